/**
 * Stampede protection across processes: 4 worker processes x 50 concurrent `fetch` of one cold
 * key. In-process single-flight leaves one fill per process; the fleet-wide fill lock leaves one
 * compute in the fleet, and the other processes are woken by the fill notification and read it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { type Cache, createFleet } from '../../src/index.ts'
import { cacheWithClock, testClock } from '../contract/cache-support.ts'
import { deferred } from '../harness/deferred.ts'
import { inbox } from '../harness/inbox.ts'
import { runWorker } from '../harness/processes.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

for (const topology of ['standalone', 'sharded', 'cluster'] as const) {
  test(`[${topology}] 200 concurrent fetches of one cold key across 4 processes compute exactly once`, async () => {
    const options = { ...(await topologyOptions(topology)), namespace: uniqueNamespace('stampede') }
    const key = 'cold-key'
    const args = { options, key, concurrency: 50, workers: 4, computeMs: 200 }
    const outputs = await Promise.all([1, 2, 3, 4].map(() => runWorker('cache-fetch.ts', args)))
    const values = outputs.flatMap((out) => JSON.parse(out) as { computedBy: number }[])
    assert.equal(values.length, 200)
    const fleet = createFleet(options)
    try {
      assert.equal(await fleet.store().get(`${key}:computes`), 1, 'the compute ran once in the whole fleet')
      const computedBy = values[0]!.computedBy
      assert.ok(
        values.every((v) => v.computedBy === computedBy),
        'all 200 callers got the value of that one compute',
      )
    } finally {
      await fleet.close()
    }
  })
}

/** Long enough that a waiter left to wait it out is plainly told apart from one woken. */
const lockTimeout = 20_000

/** A fetch of 'k' on `cache` whose compute has begun (under the fill lock): it ends on `finish`. */
async function fetchComputing(
  cache: Cache,
): Promise<{ held: Promise<unknown>; finish: (value: string) => void }> {
  const computing = deferred()
  const computed = deferred<string>()
  const held = cache.fetch('k', () => {
    computing.resolve()
    return computed.promise
  })
  await computing.promise
  return { held, finish: computed.resolve }
}

/** What `waited` resolves to, or a message naming the wait when it outlasts lockTimeout / 2. */
async function withinHalfLockTimeout<T>(waited: Promise<T>): Promise<T | string> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('still waiting after lockTimeout / 2'), lockTimeout / 2)
  })
  try {
    return await Promise.race([waited, late])
  } finally {
    clearTimeout(timer)
  }
}

for (const topology of ['standalone', 'cluster'] as const) {
  test(`[${topology}] a fleet closed while it holds a fill lock gives it back: a waiter elsewhere computes at once`, async () => {
    const options = { ...(await topologyOptions(topology)), namespace: uniqueNamespace('stampede-close') }
    const holder = createFleet(options)
    const other = createFleet(options)
    try {
      const { held, finish } = await fetchComputing(holder.cache({ lockTimeout }))
      // The holder computes under the lock; the other fleet's fetch waits for it.
      const waited = other.cache({ lockTimeout }).fetch('k', () => 'waiter')
      await holder.close()
      // Left to itself the waiter would take the lock after lockTimeout: it must not need to,
      // while the holder's compute still runs.
      assert.equal(await withinHalfLockTimeout(waited), 'waiter')
      // What the holder computes once its fleet closed is not stored (the waiter's value stays).
      finish('holder')
      await assert.rejects(held, { code: 'ERR_CLOSED' })
      assert.equal(await other.cache().read('k'), 'waiter')
    } finally {
      await holder.close()
      await other.close()
    }
  })
}

test('[standalone] a fleet closed while it holds a fill lock tells the waiters of other processes the fill ended', async () => {
  const options = { ...(await topologyOptions('standalone')), namespace: uniqueNamespace('stampede-wake') }
  const holder = createFleet(options)
  const fills = new Redis(options.url as string)
  try {
    // The fill channel, as another process's waiters hear it.
    const heard = inbox()
    fills.on('message', (_channel: string, key: string) => heard.push(key))
    await fills.subscribe(`${options.namespace}:cache~fill`)
    const { held, finish } = await fetchComputing(holder.cache({ lockTimeout }))
    await holder.close()
    assert.deepEqual(await heard.until(1, lockTimeout / 2), [`${options.namespace}:cache:k`])
    finish('holder')
    await assert.rejects(held, { code: 'ERR_CLOSED' })
  } finally {
    fills.disconnect()
    await holder.close()
  }
})

for (const topology of ['standalone', 'cluster'] as const) {
  test(`[${topology}] a fleet closed while it regenerates a stale entry (raceConditionTtl) gives its lock back`, async () => {
    const options = { ...(await topologyOptions(topology)), namespace: uniqueNamespace('stampede-stale') }
    const holder = createFleet(options)
    const other = createFleet(options)
    const clock = testClock()
    const raceConditionTtl = 1000
    try {
      const cache = cacheWithClock(holder, clock, { lockTimeout, raceConditionTtl })
      await cache.write('k', 'stale', { expiresIn: 50 })
      clock.advance(60)
      // Expired less than raceConditionTtl ago: the holder takes the lock and regenerates.
      const { held, finish } = await fetchComputing(cache)
      await holder.close()
      // Past the window the stale entry is a miss: the other fleet's fetch needs the lock.
      clock.advance(3 * raceConditionTtl)
      const waited = cacheWithClock(other, clock, { lockTimeout, raceConditionTtl }).fetch(
        'k',
        () => 'waiter',
      )
      assert.equal(await withinHalfLockTimeout(waited), 'waiter')
      finish('holder')
      await assert.rejects(held, { code: 'ERR_CLOSED' })
    } finally {
      await holder.close()
      await other.close()
    }
  })
}
