/**
 * Multi-key calls on a ring with one shard down (SPEC §3, §8). A write whose part for the down
 * shard was refused while its other parts were written is `'unknown'`, never `'not-applied'`
 * (which says Redis is untouched): setMany, writeMulti and deleteMulti said `'not-applied'` and
 * had written the healthy shard. A fetchMulti with tags whose tag versions live on the down shard
 * stores nothing, as fetch does: it stored its fills without their tags, which then outlived
 * invalidateTag. A streams publish whose main stream or channels span both shards is the same:
 * it said `'not-applied'` and the healthy shard's streams had the entry. A read over both shards
 * (the tracker's listings) is told as it failed: it said `'unknown'`, "some keys may be written".
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConnectionError, NodeDownError } from '../../src/errors.ts'
import { createFleet } from '../../src/index.ts'
import { heldBy, waitUntil } from '../harness/faults.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const outcomeOf = (error: unknown) => (error as { outcome?: string }).outcome

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: with one shard down, partly applied multi-key writes are 'unknown' and tagged fills are not stored untagged`, async () => {
    const [up, down] = await Promise.all([startRedis(), startRedis()])
    const namespace = uniqueNamespace('partial')
    const fleet = createFleet({ url: [up.url, down.url], namespace, transport, onError() {} })
    const heard: unknown[] = []
    try {
      const store = fleet.store<string>()
      const cache = fleet.cache({ namespace: 'c', errorHandler: ({ exception }) => heard.push(exception) })
      const names = Array.from({ length: 64 }, (_, i) => `k${i}`)
      await store.setMany(names.map((name) => [name, 'old']))
      await cache.writeMulti(Object.fromEntries(names.map((name) => [name, 'old'])))
      const storeKey = (name: string) => `${namespace}:store:${name}`
      const cacheKey = (name: string) => `${namespace}:cache:c:${name}`
      const storeUp = await heldBy(up.url, names, storeKey)
      const storeDown = names.filter((name) => !storeUp.includes(name))
      const cacheUp = await heldBy(up.url, names, cacheKey)
      assert.ok(storeUp.length > 0 && storeDown.length > 0 && cacheUp.length > 0, 'keys on both shards')
      // A tag whose version key is on the shard that goes down.
      const tags = Array.from({ length: 32 }, (_, i) => `t${i}`)
      for (const tag of tags) await cache.invalidateTag(tag)
      const [tag] = await heldBy(down.url, tags, (name) => `${namespace}:cache~tag:c:${name}`)
      assert.ok(tag, 'a tag on the shard that goes down')
      // A channel stream on each shard: a publish to both has a part on each.
      const streams = fleet.streams()
      const channels = Array.from({ length: 64 }, (_, i) => `ch${i}`)
      for (const channel of channels) await streams.publishToChannel(channel, { n: 0 })
      const channelKey = (name: string) => `${namespace}:streams:channel:${name}`
      const [channelUp] = await heldBy(up.url, channels, channelKey)
      const [channelDown] = await heldBy(down.url, channels, channelKey)
      assert.ok(channelUp && channelDown, 'a channel on each shard')

      await down.kill()
      await waitUntil('the shard is known down', () =>
        store.get(storeDown[0]!).then(
          () => false,
          (error: unknown) => error instanceof NodeDownError,
        ),
      )

      await assert.rejects(store.setMany(names.map((name) => [name, 'new'])), (error) => {
        assert.ok(error instanceof ConnectionError, String(error))
        assert.equal(outcomeOf(error), 'unknown', String(error))
        return true
      })
      assert.deepEqual(
        await store.getMany(storeUp),
        storeUp.map(() => 'new'),
        'the healthy shard was written',
      )
      // Only the down shard's keys: nothing was sent.
      await assert.rejects(store.setMany(storeDown.map((name) => [name, 'x'])), (error) => {
        assert.equal(outcomeOf(error), 'not-applied', String(error))
        return true
      })

      await assert.rejects(streams.publish({ n: 1 }, [channelUp, channelDown]), (error) => {
        assert.equal(outcomeOf(error), 'unknown', String(error))
        return true
      })
      const took = (await streams.readRange(channelUp, '0')).map((d) => d.envelope.n)
      assert.deepEqual(took, [0, 1], "the healthy shard's channel took the publish")
      // A read that spans both shards changed nothing anywhere: 'not-applied', as it failed.
      for (const read of [fleet.tracker().instances(), fleet.tracker().orphans()]) {
        await assert.rejects(read, (error) => {
          assert.equal(outcomeOf(error), 'not-applied', String(error))
          assert.doesNotMatch(String(error), /some keys may be written/)
          return true
        })
      }

      heard.length = 0
      assert.equal(await cache.writeMulti(Object.fromEntries(names.map((name) => [name, 'new']))), false)
      assert.deepEqual(heard.map(outcomeOf), ['unknown'])
      heard.length = 0
      await cache.deleteMulti(names)
      assert.deepEqual(heard.map(outcomeOf), ['unknown'])
      assert.deepEqual(await heldBy(up.url, cacheUp, cacheKey), [], 'the healthy shard was deleted from')

      const fill = cacheUp[0]!
      const filled = await cache.fetchMulti([fill], { tags: [tag] }, () => 'computed')
      assert.deepEqual([...filled], [[fill, 'computed']])
      assert.deepEqual(await heldBy(up.url, [fill], cacheKey), [], 'no fill stored without its tag')
    } finally {
      await fleet.close()
      await Promise.all([up.stop(), down.stop()])
    }
  })
}
