/**
 * A TCP proxy in front of a Redis server that can drop a client's connection, once, when the
 * client sends a chosen command: a connection lost at a given point of a sequence (after one
 * command was answered, before the next one reached Redis), which killing the server cannot
 * time. It can also hold back what Redis sends to subscriber connections: messages (near-cache
 * invalidations among them) that reach the process late, with nothing else slow.
 */
import net from 'node:net'

export interface RedisProxy {
  readonly url: string
  /**
   * Drops the connection that sends `command` (named upper case), before it is sent
   * on, once `passing` sends of it went through first (0: the next one).
   */
  dropAt(command: string, passing?: number): void
  /** How many connections it dropped. */
  readonly dropped: number
  /** Holds what Redis sends to every connection that has sent SUBSCRIBE, until release(). */
  holdSubscribers(): void
  /** Sends on what was held, and holds nothing more. */
  release(): void
  close(): Promise<void>
}

export async function redisProxy(target: number): Promise<RedisProxy> {
  let armed: string | undefined
  let passing = 0
  let dropped = 0
  let holding = false
  /** Per subscriber connection, what Redis sent it while held (forwarded on release). */
  const subscribers = new Map<net.Socket, Buffer[]>()
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => undefined)
      socket.on('close', () => {
        sockets.delete(socket)
        subscribers.delete(client)
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', (data) => {
      if (armed !== undefined && sends(data, armed) && passing-- === 0) {
        armed = undefined
        dropped++
        client.destroy()
        return
      }
      if (!subscribers.has(client) && sends(data, 'SUBSCRIBE')) subscribers.set(client, [])
      upstream.write(data)
    })
    upstream.on('data', (data) => {
      const held = subscribers.get(client)
      if (holding && held !== undefined) held.push(data)
      else client.write(data)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `redis://127.0.0.1:${port}`,
    dropAt(command, passes = 0) {
      armed = command
      passing = passes
    },
    get dropped() {
      return dropped
    },
    holdSubscribers() {
      holding = true
    },
    release() {
      holding = false
      for (const [client, held] of subscribers) {
        for (const data of held.splice(0)) client.write(data)
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Whether `data` holds the command `name` (clients send it upper case or, as ioredis, lower case). */
function sends(data: Buffer, name: string): boolean {
  return data.includes(`\r\n${name}\r\n`) || data.includes(`\r\n${name.toLowerCase()}\r\n`)
}
