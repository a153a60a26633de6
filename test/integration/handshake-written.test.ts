/**
 * A command queued until its connection is ready, then failed by a close, was never written: it
 * is told 'not-applied' (src/topology/health.ts). ioredis 5 writes some commands during the
 * handshake instead of queueing them (those Redis runs while loading, PUBLISH among them): such a
 * command was sent, and a close before its reply leaves its outcome unknown. On ioredis 5 (6
 * queues every command until ready), against a server that reads everything, answers nothing,
 * and hangs up.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { after, test } from 'node:test'

process.env.REDFLEET_TEST_IOREDIS = 'ioredis5'
const { ConnectionError, createFleet } = await import('../../src/index.ts')

/** A server that reads what it is sent, never answers, and hangs up when told. */
async function silentServer() {
  let received = ''
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1')
      server.emit('received')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  after(() => server.close())
  const { port } = server.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}`,
    received: () => received,
    /** Until `text` has been received. */
    async until(text: RegExp) {
      while (!text.test(received)) await once(server, 'received')
    },
    hangUp: () => {
      for (const socket of sockets) socket.destroy()
    },
  }
}

test('ioredis 5: a publish written during the handshake is unknown after a close, one queued not-applied', async () => {
  const server = await silentServer()
  const fleet = createFleet({
    url: server.url,
    connectTimeout: 10_000,
    commandTimeout: 10_000,
    reconnectAttempts: 0,
    onError: () => undefined,
  })
  try {
    const presence = fleet.presence()
    // Made before the connection is up: queued until it is ready.
    const queued = presence.publish('room', 'queued').catch((e: unknown) => e)
    await server.until(/SETINFO/i)
    // Made while the handshake waits for its replies: ioredis 5 writes it.
    const written = presence.publish('room', 'written').catch((e: unknown) => e)
    await server.until(/written/)
    assert.doesNotMatch(server.received(), /queued/)
    server.hangUp()
    const [unsent, sent] = await Promise.all([queued, written])
    assert.ok(unsent instanceof ConnectionError && sent instanceof ConnectionError, `${unsent} / ${sent}`)
    assert.equal(unsent.outcome, 'not-applied', unsent.message)
    assert.equal(sent.outcome, 'unknown', sent.message)
  } finally {
    await fleet.close()
  }
})
