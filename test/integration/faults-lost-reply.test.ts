/**
 * SPEC §8: a write whose reply was lost with its connection may have been applied; when its
 * retries then find the node down, the caller is still told `outcome: 'unknown'`, never
 * `'not-applied'` (which would say it is safe to assume nothing happened).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { ConnectionError, createFleet } from '../../src/index.ts'
import { startReplyCutter } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
let admin: Redis
before(async () => {
  server = await startRedis()
  admin = new Redis(server.url)
})
after(async () => {
  admin?.disconnect()
  await server?.stop()
})

type Store = ReturnType<ReturnType<typeof createFleet>['store']>
const writes: Record<string, (store: Store, key: string) => Promise<unknown>> = {
  set: (store, key) => store.set(key, 'v'),
  setIfNotExists: (store, key) => store.setIfNotExists(key, 'v'),
  setMany: (store, key) => store.setMany([[key, 'v']]),
}

for (const transport of ['ioredis', 'node-redis'] as const)
  for (const [name, write] of Object.entries(writes)) {
    test(`${name} on ${transport}, applied but unanswered, its retries refused: ConnectionError, outcome unknown`, async (t) => {
      const proxy = await startReplyCutter(server.port)
      const namespace = uniqueNamespace('lost')
      const fleet = createFleet({ url: proxy.url, namespace, transport, onError: () => {} })
      t.after(async () => {
        await fleet.close()
        await proxy.close()
      })
      const store = fleet.store()
      // Once before the cut, so that the cut reply is the write's own (not a script's loading).
      await write(store, 'warm')
      proxy.cut()
      const error = await write(store, 'k').then(
        () => assert.fail('resolved without a reply'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof ConnectionError, String(error))
      assert.equal(error.outcome, 'unknown', error.message)
      // It was applied: 'not-applied' would have been a lie.
      assert.equal(await admin.exists(`${namespace}:store:k`), 1)
    })
  }
