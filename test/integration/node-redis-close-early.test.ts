/**
 * Calls made before a fleet's first connection is ready, then `close()` at once: close gives a
 * connection attempt under way time to end (as ioredis does), so with Redis up each call is
 * written and resolves. On node-redis a client still connecting was destroyed at close, and the
 * calls waiting for it failed as a lost connection, `'unknown'`, though none had been sent; then
 * (withdrawn first) as `'not-applied'`, still never written.
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
  test(`${transport}: calls made before the first connection, closed at once, are written`, async () => {
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
      assert.equal(await call, 'applied', key)
      assert.equal(await command(server.port, 'EXISTS', `${namespace}:store:${key}`), 1, `${key}: written`)
    }
  })
}
