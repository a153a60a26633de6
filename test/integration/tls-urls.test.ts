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

/** The first bytes the fleet's first connection sends, its `ready()` left to fail. */
async function firstSent(options: FleetOptions): Promise<Buffer> {
  firstBytes.length = 0
  const sent = new Promise<void>((resolve) => (arrived = resolve))
  const fleet = createFleet({ connectTimeout: 2000, reconnectAttempts: 0, onError: () => {}, ...options })
  const ready = fleet.ready().catch(() => {})
  await sent
  await fleet.close()
  await ready
  return firstBytes[0]!
}

const url = (scheme: string) => `${scheme}://alice:${PASSWORD}@127.0.0.1:${port}`

for (const transport of ['ioredis', 'node-redis'] as const) {
  for (const [name, options] of [
    ['standalone', () => ({ url: url('rediss') })],
    ['standalone, upper-case scheme', () => ({ url: url('REDISS') })],
    ['ring', () => ({ url: [url('rediss'), `${url('rediss')}/1`] })],
    ['cluster', () => ({ url: url('rediss'), cluster: true })],
  ] as const) {
    test(`${transport}, ${name}: a rediss:// url speaks TLS, and sends no password in the clear`, async () => {
      const sent = await firstSent({ ...options(), transport })
      assert.equal(
        sent[0],
        0x16,
        `a TLS handshake record, not ${JSON.stringify(sent.subarray(0, 12).toString())}`,
      )
      assert.ok(!sent.includes(PASSWORD))
    })
  }
}

test('cluster seeds that mix redis:// and rediss:// are a ConfigError', () => {
  assert.throws(
    () => createFleet({ url: [url('rediss'), url('redis').replace(String(port), '1')], cluster: true }),
    (error: unknown) => error instanceof ConfigError && /mix redis:\/\/ and rediss:\/\//.test(error.message),
  )
})
