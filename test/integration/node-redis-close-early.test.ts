/**
 * Calls made before a fleet's first connection is ready, then `close()` at once (SPEC §8: an
 * operation known not to have reached Redis carries `outcome: 'not-applied'`). Each call either
 * resolves, its write done, or rejects as not applied, its write absent. On node-redis a client
 * still connecting is destroyed at close, and the calls waiting for it failed as a lost
 * connection, `'unknown'`, though none had been sent.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { command } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: calls made before the first connection, closed at once, are applied or not-applied`, async () => {
    const namespace = uniqueNamespace('close-early')
    const fleet = createFleet({ url: server.url, transport, namespace })
    const store = fleet.store()
    const outcome = (call: Promise<unknown>) =>
      call.then(
        () => 'applied',
        (error: { code?: string; outcome?: string }) => `${error.code} ${error.outcome}`,
      )
    const calls = [
      ['a', outcome(store.set('a', 1))],
      ['n', outcome(store.increment('n'))],
      ['c', outcome(store.setIfNotExists('c', 1))],
    ] as const
    await fleet.close()
    for (const [key, call] of calls) {
      const settled = await call
      const stored = await command(server.port, 'EXISTS', `${namespace}:store:${key}`)
      if (settled === 'applied') assert.equal(stored, 1, `${key}: resolved, so written`)
      else {
        assert.equal(settled, 'ERR_CLOSED not-applied', key)
        assert.equal(stored, 0, `${key}: not applied, so absent`)
      }
    }
  })
}
