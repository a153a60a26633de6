/**
 * While a server loads its data (after a restart, or DEBUG RELOAD here, slowed by
 * `key-load-delay`), it refuses commands with LOADING: a transient error, retried, and when it
 * outlasts the retries a CommandError with outcome 'not-applied' (SPEC §8, README "Retry").
 * Reads made in one tick go out as one transaction (src/topology/tick-batch.ts), which the
 * server aborts (EXECABORT) when it refuses the commands queued in it: each read must still end
 * as its own GET would, on both transports.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { CommandError, createFleet, type Fleet } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Keys DEBUG RELOAD loads, and the delay per key: about 2 s of loading. */
const LOADED_KEYS = 10_000
const DELAY_PER_KEY_US = 200

async function isLoading(raw: Redis): Promise<boolean> {
  return /loading:1/.test((await raw.info('persistence')) as string)
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  describe(`reads while the server loads its data (${transport})`, () => {
    let server: RedisServer
    let raw: Redis
    let fleet: Fleet
    before(async () => {
      server = await startRedis()
      raw = new Redis(server.url)
      fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), transport, onError: () => {} })
    })
    after(async () => {
      await fleet.close()
      raw.disconnect()
      await server.stop()
    })

    test('reads of one tick each end with LOADING, outcome not-applied, as a lone read does: never EXECABORT', async () => {
      const store = fleet.store<number>()
      await store.setMany(Array.from({ length: 8 }, (_, i): [string, number] => [`k${i}`, i]))
      const reported: unknown[] = []
      const cache = fleet.cache({ errorHandler: ({ exception }) => reported.push(exception) })
      await cache.writeMulti({ a: 1, b: 2 })
      await raw.call('DEBUG', 'POPULATE', LOADED_KEYS, 'filler')
      await raw.config('SET', 'key-load-delay', DELAY_PER_KEY_US)
      await raw.config('SET', 'loading-process-events-interval-bytes', 1024)
      // DEBUG RELOAD answers when the load is done: on a connection of its own.
      const reloader = new Redis(server.url)
      const reloaded = reloader.call('DEBUG', 'RELOAD')
      try {
        while (!(await isLoading(raw))) {}
        const reads = await Promise.allSettled([
          ...Array.from({ length: 8 }, (_, i) => store.get(`k${i}`)),
          cache.read('a'),
          cache.read('b'),
        ])
        assert.ok(await isLoading(raw), 'still loading: every read met LOADING until its retries ran out')
        for (const read of reads.slice(0, 8)) {
          assert.equal(read.status, 'rejected')
          const error = (read as PromiseRejectedResult).reason
          assert.ok(error instanceof CommandError, String(error))
          assert.match(error.message, /^store\.get 'k\d' failed: LOADING/)
          assert.equal(error.outcome, 'not-applied')
        }
        assert.deepEqual(
          reads.slice(8).map((read) => read.status === 'fulfilled' && read.value),
          [undefined, undefined],
          'the cache reads are misses',
        )
        assert.equal(reported.length, 2)
        for (const error of reported) assert.match(String(error), /LOADING/)
      } finally {
        await reloaded
        reloader.disconnect()
        await raw.config('SET', 'key-load-delay', 0)
      }
      assert.equal(await store.get('k3'), 3, 'read again once loaded')
    })
  })
}
