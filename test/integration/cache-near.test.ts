/**
 * The near cache on Redis: kept coherent by CLIENT TRACKING (BCAST, REDIRECT to the fleet's
 * subscriber connection). A change made by any client, even `redis-cli SET` on the raw key,
 * evicts it from every process once the invalidation has arrived; the delay is reported and
 * bounded by the fleets' commandTimeout (its latency is a benchmark's business). Losing the invalidation link (subscriber or tracking connection killed) flushes the
 * near cache and bypasses it until tracking is enabled again.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, test } from 'node:test'
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Cluster, Redis } from 'ioredis'
import { type Cache, createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { parseServerUrl } from '../../src/topology/connection.ts'
import { HashRing } from '../../src/topology/ring.ts'
import { untilNearHit as untilNearHitWithin } from '../harness/near-cache.ts'
import { startRedis } from '../harness/redis-server.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

const run = promisify(execFile)

/** The fleets' commandTimeout (the default, set here so that the bounds below follow it). */
const COMMAND_TIMEOUT = 1000
/** An invalidation is one push message: it arrives well within one command timeout. */
const INVALIDATION_BOUND = COMMAND_TIMEOUT
/**
 * Coming (back) online, or noticing a dropped link, takes a reconnect and a few commands: a
 * generous bound, for a loaded machine.
 */
const LINK_BOUND = 20 * COMMAND_TIMEOUT

/** `redis-cli SET` on the server that holds `key` (cluster: `-c` follows the redirection). */
async function redisCliSet(options: FleetOptions, key: string, value: string): Promise<void> {
  const urls = [options.url ?? []].flat()
  const url = options.cluster
    ? urls[0]!
    : urls.length === 1
      ? urls[0]!
      : (() => {
          const ids = urls.map((u) => parseServerUrl(u).id)
          return urls[ids.indexOf(new HashRing(ids).nodeFor(key))]!
        })()
  const args = [...(options.cluster ? ['-c'] : []), '-p', new URL(url).port, 'SET', key, value]
  const { stdout } = await run('redis-cli', args)
  assert.equal(stdout.trim(), 'OK')
}

const cleanups: (() => Promise<unknown> | unknown)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** What the fleets reported (the faults here are expected), quoted when the near cache stays offline. */
const reported: string[] = []

function fleetOf(options: FleetOptions): Fleet {
  const onError = (error: unknown, { op }: { op: string }) => void reported.push(`${op}: ${String(error)}`)
  const fleet = createFleet({ commandTimeout: COMMAND_TIMEOUT, ...options, onError })
  cleanups.push(() => fleet.close())
  return fleet
}

function rawClient(options: FleetOptions): Redis | Cluster {
  const urls = [options.url ?? []].flat()
  const client = options.cluster
    ? new Cluster(urls.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })))
    : new Redis(urls[0]!)
  client.on('error', () => {})
  cleanups.push(() => client.disconnect())
  return client
}

/** Reads until the near cache answers (tracking is live), within `ms`. */
function untilNearHit(cache: Cache, key: string, ms = LINK_BOUND): Promise<void> {
  return untilNearHitWithin(cache, key, ms, reported)
}

/** How long after `change` resolved `cache` stops serving the old value (polling every tick). */
async function invalidationDelay(cache: Cache, key: string, expected: unknown): Promise<number> {
  const started = performance.now()
  for (;;) {
    if ((await cache.read(key)) === expected) return performance.now() - started
    if (performance.now() - started > INVALIDATION_BOUND) {
      throw new Error(`not invalidated within ${INVALIDATION_BOUND} ms`)
    }
    await tick()
  }
}

for (const topology of ['standalone', 'sharded', 'cluster'] as const) {
  test(`[${topology}] a redis-cli SET on the raw key evicts it from every process's near cache within commandTimeout`, async (t) => {
    const options = { ...(await topologyOptions(topology)), namespace: uniqueNamespace('near') }
    const [a, b] = [fleetOf(options), fleetOf(options)]
    const cacheA = a.cache({ near: { max: 1000 } })
    const cacheB = b.cache({ near: { max: 1000 } })
    const full = (key: string) => `${options.namespace}:cache:${key}`

    const delays: number[] = []
    for (let round = 0; round < 5; round++) {
      const key = `hot-${round}`
      await cacheA.write(key, { v: 'original' })
      await untilNearHit(cacheA, key)
      await untilNearHit(cacheB, key)
      const hits = cacheA.stats().nearHits
      assert.deepEqual(await cacheA.read(key), { v: 'original' })
      assert.equal(cacheA.stats().nearHits, hits + 1, 'served from the near cache')

      await redisCliSet(options, full(key), `changed ${round}`)
      const [delayA, delayB] = await Promise.all([
        invalidationDelay(cacheA, key, `changed ${round}`),
        invalidationDelay(cacheB, key, `changed ${round}`),
      ])
      delays.push(delayA, delayB)
      // Once invalidated, never the old value again.
      for (let i = 0; i < 20; i++) assert.equal(await cacheA.read(key), `changed ${round}`)
    }
    // invalidationDelay bounds each delay (INVALIDATION_BOUND); their sizes are only reported.
    t.diagnostic(`invalidation delays (ms): ${delays.map((d) => d.toFixed(2)).join(' ')}`)
  })

  test(`[${topology}] writes, deletes, counters and tags through another fleet evict at once; own writes immediately`, async () => {
    const options = { ...(await topologyOptions(topology)), namespace: uniqueNamespace('near') }
    const [a, b] = [fleetOf(options), fleetOf(options)]
    const cacheA = a.cache({ near: { max: 1000 } })
    const cacheB = b.cache({ near: { max: 1000 } })
    await cacheA.write('k', 1)
    await untilNearHit(cacheA, 'k')
    await cacheA.write('k', 2)
    assert.equal(await cacheA.read('k'), 2, 'own write: evicted before write() resolved')

    await cacheB.write('k', 3)
    assert.equal(await invalidationDelay(cacheA, 'k', 3).then(() => cacheA.read('k')), 3)
    await untilNearHit(cacheA, 'k')
    await cacheB.delete('k')
    await invalidationDelay(cacheA, 'k', undefined)

    await cacheA.write('tagged', 'x', { tags: ['t'] })
    await untilNearHit(cacheA, 'tagged')
    await cacheB.invalidateTag('t')
    await invalidationDelay(cacheA, 'tagged', undefined)

    // A key and a tag stored with a '~' in front (they start like a tenant's scope).
    await cacheA.write('@scoped:k', 'x', { tags: ['@t'] })
    await untilNearHit(cacheA, '@scoped:k')
    await cacheB.write('@scoped:k', 'y', { tags: ['@t'] })
    await invalidationDelay(cacheA, '@scoped:k', 'y')
    await untilNearHit(cacheA, '@scoped:k')
    await cacheB.invalidateTag('@t')
    await invalidationDelay(cacheA, '@scoped:k', undefined)

    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`m${i}`, i]))
    await cacheA.writeMulti(many)
    // Our own writes come back as invalidations too, possibly after the next read filled the
    // near cache: read until every key is answered by it.
    const settled = Date.now() + LINK_BOUND
    for (;;) {
      const before = cacheA.stats().nearHits
      assert.equal((await cacheA.readMulti(Object.keys(many))).size, 20)
      if (cacheA.stats().nearHits === before + 20) break
      assert.ok(Date.now() < settled, 'readMulti is answered by the near cache')
      await sleep(2)
    }
    await cacheB.writeMulti(Object.fromEntries(Object.keys(many).map((k) => [k, 'new'])))
    const deadline = Date.now() + INVALIDATION_BOUND
    while ([...(await cacheA.readMulti(Object.keys(many))).values()].some((v) => v !== 'new')) {
      assert.ok(Date.now() < deadline, 'readMulti saw the new values')
      await tick()
    }
  })
}

test('killing the subscriber connection flushes and bypasses the near cache until tracking is back', async () => {
  const server = await startRedis()
  cleanups.push(() => server.stop())
  const options = { url: server.url, namespace: uniqueNamespace('near') }
  const fleet = fleetOf(options)
  const cache = fleet.cache({ near: { max: 100 } })
  const admin = rawClient(options) as Redis
  const full = (key: string) => `${options.namespace}:cache:${key}`
  await cache.write('k', 'before')
  await untilNearHit(cache, 'k')

  const pubsub = ((await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string).trim().split('\n')
  assert.equal(pubsub.length, 1, 'the fleet has one subscriber connection')
  const id = /^id=(\d+)/.exec(pubsub[0]!)![1]!
  await admin.call('CLIENT', 'KILL', 'ID', id)
  // While the link is down, a change must not be missed: the near cache is flushed and bypassed.
  await admin.set(full('k'), 'while down')
  const deadline = Date.now() + LINK_BOUND
  while ((await cache.read('k')) !== 'while down') {
    assert.ok(Date.now() < deadline, 'the near cache was flushed')
    await tick()
  }
  const hits = cache.stats().nearHits
  // Then it comes back (new subscriber, tracking re-enabled with its new id) and is coherent.
  // (A plain string is never kept in the near cache: write an entry again.)
  await cache.write('k', 'rewritten')
  await untilNearHit(cache, 'k')
  assert.ok(cache.stats().nearHits > hits)
  const tracking = ((await admin.call('CLIENT', 'LIST')) as string)
    .split('\n')
    .filter((l) => /flags=\S*t/.test(l))
  assert.equal(tracking.length, 1, 'one tracking connection')
  assert.match(tracking[0]!, /redir=(\d+)/)
  await admin.set(full('k'), 'after')
  await invalidationDelay(cache, 'k', 'after')
})

test('cache objects of one namespace share one tracking connection; an invalidation reaches each near cache', async () => {
  const server = await startRedis()
  cleanups.push(() => server.stop())
  const options = { url: server.url, namespace: uniqueNamespace('near') }
  const fleet = fleetOf(options)
  const admin = rawClient(options) as Redis
  const full = (key: string) => `${options.namespace}:cache:views:${key}`
  const clients = async () => ((await admin.call('CLIENT', 'LIST')) as string).trim().split('\n')
  // A cache object per request, a common pattern: each must not open connections of its own.
  const caches = Array.from({ length: 20 }, () => fleet.cache({ namespace: 'views', near: { max: 100 } }))
  await caches[0]!.write('k', 'before')
  for (const cache of caches) await untilNearHit(cache, 'k')
  const before = (await clients()).length
  const more = Array.from({ length: 20 }, () => fleet.cache({ namespace: 'views', near: { max: 100 } }))
  for (const cache of more) await untilNearHit(cache, 'k')
  assert.equal((await clients()).length, before, 'no connection per cache object')
  const tracking = (await clients()).filter((l) => /flags=\S*t/.test(l))
  assert.equal(tracking.length, 1, 'one tracking connection for the namespace')
  await admin.set(full('k'), 'after')
  for (const cache of [...caches, ...more]) await invalidationDelay(cache, 'k', 'after')
  // Another namespace is tracked by a connection of its own (its own PREFIXes).
  const other = fleet.cache({ namespace: 'other', near: { max: 100 } })
  await other.write('k', 'x')
  await untilNearHit(other, 'k')
  assert.equal((await clients()).filter((l) => /flags=\S*t/.test(l)).length, 2)
})

test('killing the tracking (control) connection flushes and bypasses too, then re-enables', async () => {
  const server = await startRedis()
  cleanups.push(() => server.stop())
  const options = { url: server.url, namespace: uniqueNamespace('near') }
  const fleet = fleetOf(options)
  const cache = fleet.cache({ near: { max: 100 } })
  const admin = rawClient(options) as Redis
  const full = (key: string) => `${options.namespace}:cache:${key}`
  await cache.write('k', 'before')
  await untilNearHit(cache, 'k')
  const line = ((await admin.call('CLIENT', 'LIST')) as string).split('\n').find((l) => /flags=\S*t/.test(l))!
  await admin.call('CLIENT', 'KILL', 'ID', /^id=(\d+)/.exec(line)![1]!)
  await admin.set(full('k'), 'while untracked')
  const deadline = Date.now() + LINK_BOUND
  while ((await cache.read('k')) !== 'while untracked') {
    assert.ok(Date.now() < deadline, 'the near cache was flushed')
    await tick()
  }
  await cache.write('k', 'rewritten')
  await untilNearHit(cache, 'k')
  await admin.set(full('k'), 'after')
  await invalidationDelay(cache, 'k', 'after')
})

test('a stopped server: the near cache is flushed, reads fail safe, and it recovers with the server', async () => {
  const server = await startRedis()
  cleanups.push(() => server.stop())
  const options = {
    url: server.url,
    namespace: uniqueNamespace('near'),
    reconnectAttempts: 0,
    retry: { attempts: 1 },
  }
  const fleet = fleetOf(options)
  const cache = fleet.cache({ near: { max: 100 }, errorHandler: () => {} })
  await cache.write('k', 'v')
  await untilNearHit(cache, 'k')
  await server.stop()
  const deadline = Date.now() + LINK_BOUND
  while ((await cache.read('k')) !== undefined) {
    assert.ok(Date.now() < deadline, 'stale near entries are not served while Redis is away')
    await sleep(10)
  }
  await server.restart()
  // Writes fail at once while the node is known to be down (SPEC §8): until a probe finds it.
  while (!(await cache.write('k', 'back'))) await sleep(10)
  await untilNearHit(cache, 'k')
  assert.equal(await cache.read('k'), 'back')
})
