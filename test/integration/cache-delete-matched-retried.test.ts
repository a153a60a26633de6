/**
 * `deleteMatched` returns how many keys it removed (SPEC §3), also when its walk of the keyspace
 * is repeated after a transient failure (the runner retries it: deleting again is safe). The
 * repeated walk finds gone what the first one removed, and the count was the last walk's alone:
 * helper-294 saw 496 of 1,500 told, with a CLUSTER FAILOVER during the call. Here the
 * connection is dropped at the walk's second SCAN, after the first batch was removed.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { type RedisProxy, redisProxy } from '../harness/redis-proxy.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

/** Over two SCAN batches of the cache's walk (1,000 keys each). */
const KEYS = 2500

let server: RedisServer
let proxy: RedisProxy
before(async () => {
  server = await startRedis()
  proxy = await redisProxy(server.port)
})
after(async () => {
  await proxy.close()
  await server.stop()
})

test('deleteMatched counts every key removed when its walk is repeated after a dropped connection', async () => {
  const fleet = createFleet({ url: proxy.url, namespace: 'retried' })
  try {
    const cache = fleet.cache({ namespace: 'c' })
    const entries = Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`k${i}`, i]))
    await cache.writeMulti(entries)
    await cache.write('other', 'kept')
    proxy.dropAt('SCAN', 1)
    assert.equal(await cache.deleteMatched('k*'), KEYS)
    assert.equal(proxy.dropped, 1, 'the walk lost its connection once')
    assert.equal((await cache.readMulti(Object.keys(entries))).size, 0)
    assert.equal(await cache.read('other'), 'kept')
  } finally {
    await fleet.close()
  }
})
