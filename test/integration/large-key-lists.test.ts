/**
 * Multi-key calls of more keys than one Redis command can take from JavaScript: their arguments
 * are spread into a function call on their way to the socket, and the stack bounds how many
 * one call takes (about 120,000; half that on node-redis, which spreads them twice). redfleet
 * sends at most MAX_COMMAND_KEYS keys per command (src/topology/pipeline.ts), so such a call
 * works as on memory. On one standalone server (where one command would carry every key), on
 * both transports.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createFleet, type Fleet } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** More keys than one call's arguments can spread on either transport. */
const COUNT = 150_000
const names = (prefix: string) => Array.from({ length: COUNT }, (_, i) => `${prefix}${i}`)

for (const transport of ['ioredis', 'node-redis'] as const) {
  describe(`multi-key calls of ${COUNT} keys on standalone (${transport})`, () => {
    let server: RedisServer
    let fleet: Fleet
    before(async () => {
      server = await startRedis()
      // What is tested is how many keys a call takes, not how fast: calls of this size may take
      // longer than the default commandTimeout on a busy machine.
      fleet = createFleet({
        url: server.url,
        namespace: uniqueNamespace(),
        transport,
        commandTimeout: 30_000,
      })
    })
    after(async () => {
      await fleet.close()
      await server.stop()
    })

    test('store.setMany and store.getMany', async () => {
      const store = fleet.store<number>()
      const keys = names('s')
      await store.setMany(keys.map((key, i) => [key, i]))
      const values = await store.getMany([...keys, 'absent'])
      assert.equal(values.length, COUNT + 1)
      assert.ok(
        values.every((value, i) => value === (i < COUNT ? i : undefined)),
        'every value, in input order',
      )
    })

    test('such calls keep their order with the calls made just before and after them (SPEC §2)', async () => {
      const store = fleet.store<number>()
      const keys = names('o')
      // Not awaited: each call must meet the calls made before it and none made after it.
      const written = store.setMany(keys.map((key, i) => [key, i]))
      const deleted = store.delete('o5')
      const read = store.get('o6')
      const many = store.getMany(['o7', 'o8'])
      await Promise.all([written, deleted])
      assert.equal(await read, 6)
      assert.deepEqual(await many, [7, 8])
      assert.equal(await store.get('o5'), undefined, 'the delete made after the setMany won')
      await store.set('o9', 0)
      const all = store.getMany(keys)
      void store.set('o9', 999)
      assert.equal((await all)[9], 0, 'the getMany read before the set made after it')

      const cache = fleet.cache()
      await cache.writeMulti({ o3: 'old', o4: 'x' })
      const readMulti = cache.readMulti(keys)
      void cache.write('o3', 'new')
      void cache.delete('o4')
      const seen = await readMulti
      assert.equal(seen.get('o3'), 'old')
      assert.equal(seen.get('o4'), 'x')
    })

    test('cache.readMulti and cache.deleteMulti', async () => {
      const reported: unknown[] = []
      const cache = fleet.cache({ errorHandler: ({ exception }) => reported.push(exception) })
      const keys = names('c')
      await cache.writeMulti({ c7: 7, c149999: 149_999 })
      assert.deepEqual(
        await cache.readMulti(keys),
        new Map([
          ['c7', 7],
          ['c149999', 149_999],
        ]),
      )
      assert.equal(await cache.deleteMulti(keys), 2, 'the two entries there')
      assert.deepEqual(reported, [], 'no call failed')
    })
  })
}
