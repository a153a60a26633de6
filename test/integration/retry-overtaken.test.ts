/**
 * SPEC §2 (the store) and §3 (the cache's single- and multi-key methods): calls from one process on one key are applied in the order they were made, awaited
 * or not. A multi-key write lets later calls on its keys go once its commands are written (so
 * that they do not wait out its timeouts); its retry after a failure then wrote its older
 * values after theirs: a setMany whose part a paused node held timed out, a later `set` of one
 * of its keys on the other node was applied, and the setMany's retry wrote that key back. Once
 * a later call on one of its keys was made, a call is not sent again.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pausableServer } from '../harness/pausable-server.ts'
import { topologyOptions } from '../harness/topologies.ts'

const server = pausableServer()

/** A ring of the paused server and the run's standalone one; retried calls, short timeouts. */
async function ringWithPausable() {
  const { url: standalone } = await topologyOptions('standalone')
  return server.fleet({
    url: [server.url, standalone as string],
    commandTimeout: 300,
    retry: { attempts: 3 },
    onError: () => {},
  })
}

/** A cache on the ring, 20 keys on both its servers, none of them set, and one server paused. */
async function pausedCache() {
  const cache = (await ringWithPausable()).cache({ errorHandler: () => {} })
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
  // Connected to both servers first: a connection made during the pause would wait it out.
  await cache.deleteMulti(keys)
  await server.pause(3000)
  return { cache, keys }
}

test('a setMany that timed out is not sent again over a later set of one of its keys', async () => {
  const store = (await ringWithPausable()).store<number>()
  // Keys on both servers: the setMany has a part for the paused one.
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
  await store.setMany(keys.map((key) => [key, 0]))
  await server.pause(3000)
  const many = store.setMany(keys.map((key) => [key, 1]))
  const later = keys.map((key) => store.set(key, 2))
  const outcomes = await Promise.allSettled([many, ...later])
  assert.equal(outcomes[0]!.status, 'rejected', 'the setMany timed out on the paused node')
  await server.unpause()
  // Every key holds the later value: on the paused node the held commands ran in order.
  assert.deepEqual(
    await store.getMany(keys),
    keys.map(() => 2),
  )
})

test('a cache writeMulti and deleteMulti that timed out are not sent again over a later write of one of their keys', async () => {
  const cache = (await ringWithPausable()).cache({ errorHandler: () => {} })
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
  await cache.writeMulti(Object.fromEntries(keys.map((key) => [key, 0])))
  await server.pause(3000)
  const many = cache.writeMulti(Object.fromEntries(keys.map((key) => [key, 1])))
  const later = keys.map((key) => cache.write(key, 2))
  assert.equal(await many, false, 'the writeMulti timed out on the paused node')
  await Promise.all(later)
  const gone = cache.deleteMulti(keys)
  const again = keys.map((key) => cache.write(key, 3))
  await Promise.all([gone, ...again])
  await server.unpause()
  assert.deepEqual(
    [...(await cache.readMulti(keys)).values()],
    keys.map(() => 3),
  )
})

test('a fetchMulti fill that timed out is not sent again over a later write of one of its keys', async () => {
  const { cache, keys } = await pausedCache()
  let later: Promise<boolean>[] = []
  const fetching = cache.fetchMulti(keys, { force: true }, (key) => {
    // After the last compute the fill is sent at once: the later writes come after it.
    if (key === keys.at(-1)) setImmediate(() => (later = keys.map((k) => cache.write(k, 2))))
    return 1
  })
  assert.deepEqual(
    [...(await fetching).values()],
    keys.map(() => 1),
  )
  await Promise.all(later)
  await server.unpause()
  assert.deepEqual(
    [...(await cache.readMulti(keys)).values()],
    keys.map(() => 2),
  )
})

test("a writeMulti that timed out is not sent again over a later fetch's fill of one of its keys (helper-308)", async () => {
  const { cache, keys } = await pausedCache()
  // A writeMulti, then a forced fetch of each key: its fill is a write made after it.
  const many = cache.writeMulti(Object.fromEntries(keys.map((key) => [key, 1])))
  const fills = keys.map((key) => cache.fetch(key, { force: true }, () => 2))
  assert.equal(await many, false, 'the writeMulti timed out on the paused node')
  await Promise.all(fills)
  await server.unpause()
  // Read back: a fetch returns what it computed whether or not it stored it (helper-311).
  assert.deepEqual(
    [...(await cache.readMulti(keys)).values()],
    keys.map(() => 2),
  )
})

test("a fetchMulti fill that timed out is not sent again over a later fetchMulti's fill of one of its keys (helper-308)", async () => {
  const { cache, keys } = await pausedCache()
  let later: Promise<unknown> | undefined
  const first = cache.fetchMulti(keys, { force: true }, (key) => {
    // The second fetchMulti comes right after the first one's fill was sent.
    if (key === keys.at(-1)) setImmediate(() => (later = cache.fetchMulti(keys, { force: true }, () => 4)))
    return 3
  })
  await first
  await later
  await server.unpause()
  assert.deepEqual(
    [...(await cache.readMulti(keys)).values()],
    keys.map(() => 4),
  )
})
