/**
 * `fetch` reads its tags' versions before computing, so that a tag invalidated during the
 * compute makes the result a miss (docs/cache.md). When that read failed (the tag's node down or
 * frozen: the failsafe took it as no versions), the versions were read after the compute instead,
 * and an invalidation made during the compute stamped the result current: another process read
 * the value computed from old data (helper-297, on a ring and a 3-master cluster). Such a fill
 * now stores nothing, as `fetchMulti`'s does.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NodeDownError } from '../../src/errors.ts'
import { createFleet } from '../../src/index.ts'
import { heldBy, waitUntil } from '../harness/faults.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a fetch whose tag versions could not be read before its compute stores nothing`, async () => {
    const [up, down] = await Promise.all([startRedis(), startRedis()])
    const namespace = uniqueNamespace('tags-unread')
    const options = { url: [up.url, down.url], namespace, transport, onError() {} }
    const [a, b] = [createFleet(options), createFleet(options)]
    const heardA: unknown[] = []
    const heardB: unknown[] = []
    try {
      const cacheA = a.cache({ namespace: 'c', errorHandler: ({ exception }) => heardA.push(exception) })
      const cacheB = b.cache({ namespace: 'c', errorHandler: ({ exception }) => heardB.push(exception) })
      // A tag whose version is on the shard that goes down, an entry on the one that stays.
      const tags = Array.from({ length: 32 }, (_, i) => `t${i}`)
      for (const tag of tags) await cacheB.invalidateTag(tag)
      const [tag] = await heldBy(down.url, tags, (name) => `${namespace}:cache~tag:c:${name}`)
      const names = Array.from({ length: 32 }, (_, i) => `k${i}`)
      await cacheB.writeMulti(Object.fromEntries(names.map((name) => [name, 'old'])))
      const [key] = await heldBy(up.url, names, (name) => `${namespace}:cache:c:${name}`)
      assert.ok(tag && key, 'a tag on the shard that goes down, a key on the other')
      await cacheB.delete(key)
      // A key of the down shard: what fleet `a` hears reading it.
      const [probe] = await heldBy(down.url, names, (name) => `${namespace}:cache:c:${name}`)
      const readProbe = async () => {
        heardA.length = 0
        await cacheA.read(probe!)
        return [...heardA]
      }

      await down.kill()
      await waitUntil('the shard is known down', async () =>
        (await readProbe()).some((error) => error instanceof NodeDownError),
      )
      heardA.length = 0
      const value = await cacheA.fetch(key, { tags: [tag] }, async () => {
        assert.ok(heardA.length > 0, 'the tag versions could not be read before the compute')
        // During the compute: the node is back, another process invalidates the tag, and this
        // fleet can read the tag's version again.
        await down.restart()
        await waitUntil('the invalidation is acknowledged', async () => {
          heardB.length = 0
          await cacheB.invalidateTag(tag)
          return heardB.length === 0
        })
        await waitUntil('the fleet reaches the shard again', async () => (await readProbe()).length === 0)
        return 'computed from old data'
      })
      assert.equal(value, 'computed from old data')
      assert.equal(await cacheB.read(key), undefined, 'not stored current')
      assert.equal(await cacheA.read(key), undefined)
    } finally {
      await Promise.all([a.close(), b.close()])
      await Promise.all([up.stop(), down.stop()])
    }
  })
}
