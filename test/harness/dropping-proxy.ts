/**
 * A TCP proxy in front of a Redis server that drops a client's connection, once, when the client
 * sends a chosen command: a connection lost at a given point of a sequence (after one command was
 * answered, before the next one reached Redis), which killing the server cannot time.
 */
import net from 'node:net'

export interface DroppingProxy {
  readonly url: string
  /** Drops the next connection that sends `command` (upper case, as RESP names it), before it is sent on. */
  dropAt(command: string): void
  /** How many connections it dropped. */
  readonly dropped: number
  close(): Promise<void>
}

export async function droppingProxy(target: number): Promise<DroppingProxy> {
  let armed: string | undefined
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
      if (armed !== undefined && data.includes(`\r\n${armed}\r\n`)) {
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
    dropAt(command) {
      armed = command
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
