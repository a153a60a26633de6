/**
 * A server that refuses the url's credentials (a wrong password, or none where one is needed):
 * every call fails as a connection that cannot be used does, a ConnectionError saying to check
 * the credentials. The first calls made before the handshake failed were CommandErrors
 * (`WRONGPASS ...`, or on node-redis `NOAUTH ...` for a wrong password).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { ConnectionError, createFleet } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer | undefined
after(() => server?.stop())

for (const transport of ['ioredis', 'node-redis'] as const) {
  for (const [credentials, given] of [
    ['a wrong password', ':wrong@'],
    ['no password', ''],
  ] as const) {
    test(`${transport}, ${credentials}: calls fail with a ConnectionError naming the refusal`, async () => {
      server ??= await startRedis({ extra: ['--requirepass', 's3cret'] })
      const url = server.url.replace('redis://', `redis://${given}`)
      const fleet = createFleet({ url, transport, namespace: uniqueNamespace('auth'), onError() {} })
      try {
        for (let call = 0; call < 2; call++) {
          await assert.rejects(fleet.store().get('k'), (error: unknown) => {
            assert.ok(error instanceof ConnectionError, `call ${call}: ${String(error)}`)
            assert.match(error.message, /WRONGPASS|NOAUTH/)
            assert.equal(error.outcome, 'not-applied')
            return true
          })
        }
      } finally {
        await fleet.close()
      }
    })
  }
}
