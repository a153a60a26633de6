/**
 * A TCP proxy in front of a Redis server that drops a client's connection, once, when the client
 * sends a chosen command: a connection lost at a given point of a sequence (after one command was
 * answered, before the next one reached Redis), which killing the server cannot time.
 */
import net from 'node:net'

export interface DroppingProxy {
  readonly url: string
  /**
   * Drops the connection that sends `command` (named upper case), before it is sent
   * on, once `passing` sends of it went through first (0: the next one).
   */
  dropAt(command: string, passing?: number): void
  /** How many connections it dropped. */
  readonly dropped: number
  close(): Promise<void>
}

export async function droppingProxy(target: number): Promise<DroppingProxy> {
  let armed: string | undefined
  let passing = 0
  let dropped = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => undefined)
      socket.on('close', () => {
        sockets.delete(socket)
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
      upstream.write(data)
    })
    upstream.on('data', (data) => client.write(data))
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
