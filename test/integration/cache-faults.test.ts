/**
 * The cache through faults of a real server (issue 10): a counter is applied exactly once or
 * reported with outcome 'unknown', never twice by redfleet's own retries.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet, type Fleet, TimeoutError } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

type Failure = { method: string; returning: unknown; exception: unknown }

let server: RedisServer
let fleet: Fleet
let admin: Redis
const commandTimeout = 1000

before(async () => {
  server = await startRedis()
  // The default retry policy: what would re-send an increment, were it not known to count twice.
  fleet = createFleet({ url: server.url, namespace: uniqueNamespace('faults'), commandTimeout })
  await fleet.ready()
  admin = new Redis(server.url)
})

after(async () => {
  await fleet?.close()
  admin?.disconnect()
  await server?.stop()
})

for (const [method, by, expected] of [
  ['increment', 5, 5],
  ['decrement', 5, -5],
] as const) {
  test(`CLIENT PAUSE longer than commandTimeout during ${method}: applied at most once, reported as outcome 'unknown'`, async () => {
    const seen: Failure[] = []
    const cache = fleet.cache({ namespace: `${method}-pause`, errorHandler: (info) => seen.push(info) })
    for (const expiresIn of [undefined, 60_000]) {
      const key = `counter-${expiresIn ?? 'plain'}`
      seen.length = 0
      // Writes wait until the pause ends (far beyond commandTimeout); reads are still served.
      await admin.call('CLIENT', 'PAUSE', String(commandTimeout * 10), 'WRITE')
      try {
        assert.equal(await cache[method](key, by, { expiresIn }), undefined, 'the failsafe returns undefined')
      } finally {
        await admin.call('CLIENT', 'UNPAUSE')
      }
      assert.equal(seen.length, 1, 'errorHandler heard of it once')
      assert.equal(seen[0]!.method, method)
      assert.ok(seen[0]!.exception instanceof TimeoutError)
      assert.equal((seen[0]!.exception as TimeoutError).outcome, 'unknown')
      // The one copy sent is applied when the pause ends, or never (its connection was dropped
      // on the timeout); never more than once. test/unit/cache-mechanisms.test.ts counts sends.
      const value = await cache.readCounter(key)
      assert.ok(value === undefined || value === expected, `applied at most once (got ${value})`)
    }
  })
}
