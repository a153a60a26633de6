/**
 * `rediss://` urls speak TLS on every topology and transport, whatever the case of the scheme
 * (README: `rediss://` for TLS). On ioredis a cluster from `rediss://` seeds connected in plain
 * text, sending the url's password in the clear, and so did a standalone `REDISS://` url: ioredis
 * turns TLS on only for a lower-case `rediss://`, and a Cluster never does from its seeds
 * (helper-310). A listener records the first bytes each connection sends: a TLS ClientHello
 * starts with 0x16, a RESP command with `*`.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { after, before, test } from 'node:test'
import { ConfigError, createFleet, type FleetOptions } from '../../src/index.ts'

const PASSWORD = 'TopSecretPw'
let server: Server
let port: number
const firstBytes: Buffer[] = []
let arrived: (() => void) | undefined

before(async () => {
  server = createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', (data) => {
      firstBytes.push(data)
      arrived?.()
      socket.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as { port: number }).port
})

after(() => new Promise<void>((resolve) => server.close(() => resolve())))

/**
 * The first bytes of each of the fleet's first `connections` connections, its `ready()` left to
 * fail: a command connection's, and then those a broker subscription and a blocking read open
 * of their own (helper-311: they take the url's TLS separately).
 */
async function firstSent(options: FleetOptions, connections: number): Promise<Buffer[]> {
  firstBytes.length = 0
  const sent = new Promise<void>((resolve) => {
    arrived = () => {
      if (firstBytes.length >= connections) resolve()
    }
  })
  const fleet = createFleet({ connectTimeout: 2000, reconnectAttempts: 0, onError: () => {}, ...options })
  const ready = fleet.ready().catch(() => {})
  const stop = new AbortController()
  fleet.broker({ onError: () => {} }).subscribe(() => {})
  const tail = fleet
    .streams()
    .tail('ch', undefined, () => {}, { signal: stop.signal })
    .catch(() => {})
  await sent
  stop.abort()
  await fleet.close()
  await Promise.all([ready, tail])
  return [...firstBytes]
}

const url = (scheme: string) => `${scheme}://alice:${PASSWORD}@127.0.0.1:${port}`

for (const transport of ['ioredis', 'node-redis'] as const) {
  // The cluster opens its nodes' connections once it has read the slot map, which this listener
  // never gives: only its seed's.
  for (const [name, options, connections] of [
    ['standalone', () => ({ url: url('rediss') }), 3],
    ['standalone, upper-case scheme', () => ({ url: url('REDISS') }), 3],
    ['ring', () => ({ url: [url('rediss'), `${url('rediss')}/1`] }), 3],
    ['cluster', () => ({ url: url('rediss'), cluster: true }), 1],
  ] as const) {
    test(`${transport}, ${name}: a rediss:// url speaks TLS on every connection, and sends no password in the clear`, async () => {
      const sent = await firstSent({ ...options(), transport }, connections)
      for (const bytes of sent) {
        const start = JSON.stringify(bytes.subarray(0, 12).toString())
        assert.equal(bytes[0], 0x16, `a TLS handshake record, not ${start}`)
        assert.ok(!bytes.includes(PASSWORD))
      }
    })
  }
}

test('cluster seeds that mix redis:// and rediss:// are a ConfigError', () => {
  assert.throws(
    () => createFleet({ url: [url('rediss'), url('redis').replace(String(port), '1')], cluster: true }),
    (error: unknown) => error instanceof ConfigError && /mix redis:\/\/ and rediss:\/\//.test(error.message),
  )
})
