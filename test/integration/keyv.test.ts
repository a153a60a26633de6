/**
 * `redfleet/keyv` with the real `keyv`, `cache-manager` and `cacheable` packages, on every
 * topology: what those libraries do (namespaces, TTLs, batches, clear, wrap) works on a redfleet
 * cache, and stays inside the cache's namespace.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from 'cache-manager'
import { Cacheable } from 'cacheable'
import Keyv from 'keyv'
import {
  type Cache,
  ClosedError,
  ConnectionError,
  createFleet,
  type Fleet,
  InvalidArgumentError,
} from '../../src/index.ts'
import { keyvStore } from '../../src/integrations/keyv.ts'
import { forEachTopology, uniqueNamespace } from '../harness/topologies.ts'

forEachTopology('redfleet/keyv', (env) => {
  let fleet: Fleet
  let cache: Cache
  before(async () => {
    fleet = await env.fleet()
    cache = fleet.cache({ namespace: 'kv' })
  })

  test('Keyv: set, get, has, delete, ttl, batches', async () => {
    const keyv = new Keyv({ store: keyvStore(cache) })
    assert.equal(await keyv.set('foo', { nested: [1, 'two'] }), true)
    assert.deepEqual(await keyv.get('foo'), { nested: [1, 'two'] })
    assert.equal(await keyv.has('foo'), true)
    assert.equal(await keyv.delete('foo'), true)
    assert.equal(await keyv.get('foo'), undefined)
    assert.equal(await keyv.delete('foo'), false)

    // Long enough to read it back on a loaded machine; gone once it has passed.
    const ttl = 1000
    await keyv.set('brief', 'x', ttl)
    assert.equal(await keyv.get('brief'), 'x')
    await sleep(ttl + 30)
    assert.equal(await keyv.get('brief'), undefined)

    await keyv.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2, ttl: 60_000 },
    ])
    assert.deepEqual(await keyv.getMany(['a', 'b', 'c']), [1, 2, undefined])
    assert.deepEqual(await keyv.hasMany(['a', 'c']), [true, false])
    assert.equal(await keyv.deleteMany(['a', 'b']), true)
    assert.deepEqual(await keyv.getMany(['a', 'b']), [undefined, undefined])
  })

  test("a ttl the cache's expiresIn refuses is an InvalidArgumentError and stores nothing; none, 0, negative or NaN store the entry", async () => {
    const store = keyvStore(cache)
    for (const ttl of ['1h', 'abc', '', '1000', Number.POSITIVE_INFINITY, {}]) {
      const what = `ttl ${typeof ttl === 'string' ? JSON.stringify(ttl) : String(ttl)}`
      await assert.rejects(store.set('refused', 'v', ttl as never), InvalidArgumentError, what)
      await assert.rejects(
        store.setMany([
          { key: 'refused', value: 'v', ttl: ttl as never },
          { key: 'refused-too', value: 'v' },
        ]),
        InvalidArgumentError,
        `setMany, ${what}`,
      )
      assert.deepEqual(await store.getMany(['refused', 'refused-too']), [undefined, undefined], what)
    }
    for (const ttl of [undefined, null, 0, -5, Number.NaN]) {
      await store.delete('kept')
      assert.equal(await store.set('kept', 'v', ttl as never), true, String(ttl))
      assert.equal(await store.get('kept'), 'v', String(ttl))
    }
  })

  test("Keyv: namespaces are separate and clear() removes only that namespace's keys", async () => {
    const users = new Keyv({ store: keyvStore(cache), namespace: 'users' })
    const posts = new Keyv({ store: keyvStore(cache), namespace: 'posts' })
    await users.set('1', 'ada')
    await posts.set('1', 'hello')
    await cache.write('plain', 'outside keyv')
    assert.equal(await users.get('1'), 'ada')
    assert.equal(await posts.get('1'), 'hello')
    await users.clear()
    assert.equal(await users.get('1'), undefined)
    assert.equal(await posts.get('1'), 'hello')
    assert.equal(await cache.read('plain'), 'outside keyv')
    // Keyv's keys are ordinary cache entries named `${namespace}:${key}`.
    assert.equal(typeof (await cache.read('posts:1')), 'string')
  })

  test('Keyv instances in two fleets share the data (another process)', async () => {
    const other = (await env.fleet()).cache({ namespace: 'kv' })
    const a = new Keyv({ store: keyvStore(cache), namespace: 'shared' })
    const b = new Keyv({ store: keyvStore(other), namespace: 'shared' })
    await a.set('k', { from: 'a' })
    assert.deepEqual(await b.get('k'), { from: 'a' })
  })

  test('cache-manager on a redfleet Keyv store: set, get, mget, del, wrap computes once, ttl', async () => {
    const manager = createCache({ stores: [new Keyv({ store: keyvStore(cache), namespace: 'cm' })] })
    await manager.set('k', { v: 1 })
    assert.deepEqual(await manager.get('k'), { v: 1 })
    await manager.mset([
      { key: 'x', value: 'X' },
      { key: 'y', value: 'Y' },
    ])
    assert.deepEqual(await manager.mget(['x', 'y', 'z']), ['X', 'Y', undefined])
    assert.equal(await manager.del('k'), true)
    assert.equal(await manager.get('k'), undefined)
    let runs = 0
    const compute = async () => {
      runs++
      return 'computed'
    }
    assert.equal(await manager.wrap('w', compute), 'computed')
    assert.equal(await manager.wrap('w', compute), 'computed')
    assert.equal(runs, 1)
    await manager.set('short', 1, 50)
    await sleep(80)
    assert.equal(await manager.get('short'), undefined)
    await manager.clear()
    assert.deepEqual(await manager.mget(['x', 'y', 'w']), [undefined, undefined, undefined])
  })

  test('cacheable with a redfleet Keyv store as its secondary layer', async () => {
    const secondary = new Keyv({ store: keyvStore(cache), namespace: 'cacheable' })
    const layered = new Cacheable({ secondary })
    await layered.set('k', { deep: true })
    assert.deepEqual(await layered.get('k'), { deep: true })
    // Another process (fresh primary) finds it in the redfleet layer.
    const elsewhere = new Cacheable({
      secondary: new Keyv({
        store: keyvStore((await env.fleet()).cache({ namespace: 'kv' })),
        namespace: 'cacheable',
      }),
    })
    assert.deepEqual(await elsewhere.get('k'), { deep: true })
    assert.equal(await layered.delete('k'), true)
    assert.equal(await secondary.get('k'), undefined, 'deleted from the redfleet layer')
  })
})

describe("redfleet/keyv: failures are 'error' events, as Keyv's contract asks", () => {
  // Nothing listens on port 1: every call fails with a refused connection.
  const fleet = createFleet({
    url: 'redis://127.0.0.1:1',
    namespace: uniqueNamespace(),
    reconnectAttempts: 0,
  })
  const handled: string[] = []
  const cache = fleet.cache({ errorHandler: ({ method }) => handled.push(method) })
  after(() => fleet.close())

  test("Keyv's on('error') hears each failed call, which answers a miss / false", async () => {
    const keyv = new Keyv({ store: keyvStore(cache) })
    const errors: unknown[] = []
    keyv.on('error', (error: unknown) => errors.push(error))
    assert.equal(await keyv.get('k'), undefined)
    assert.equal(errors.length, 1)
    assert.ok(errors[0] instanceof ConnectionError)
    assert.deepEqual(await keyv.getMany(['a', 'b']), [undefined, undefined])
    assert.equal(await keyv.has('k'), false)
    assert.equal(errors.length, 3)
    // Keyv re-emits what set/delete report: the adapter's event and Keyv's own for a false result.
    assert.equal(await keyv.set('k', 1), false)
    assert.ok(errors.length > 3)
    assert.ok(errors.every((e) => e instanceof ConnectionError))
    // The cache's errorHandler still hears every failure.
    assert.ok(handled.includes('read'))
  })

  test("with throwOnErrors the call rejects, so Keyv's throwOnErrors fires", async () => {
    const keyv = new Keyv({ store: keyvStore(cache, { throwOnErrors: true }), throwOnErrors: true })
    keyv.on('error', () => {})
    await assert.rejects(keyv.get('k'), ConnectionError)
    await assert.rejects(keyv.set('k', 1), ConnectionError)
    await assert.rejects(keyv.delete('k'), ConnectionError)
    await assert.rejects(keyv.clear(), ConnectionError)
  })

  test("failures of other callers of the same cache are not the adapter's", async () => {
    const store = keyvStore(cache)
    const errors: unknown[] = []
    store.on('error', (error: unknown) => errors.push(error))
    assert.equal(await cache.read('direct'), undefined)
    assert.equal(errors.length, 0)
    assert.equal(await store.get('k'), undefined)
    assert.equal(errors.length, 1)
  })

  test("without a listener a failure is the errorHandler's alone: no unhandled 'error' event", async () => {
    const before = handled.length
    assert.equal(await keyvStore(cache).get('k'), undefined)
    assert.equal(handled.length, before + 1)
  })
})

test('after the fleet closes every call of the adapter rejects ClosedError, writes of nothing too', async () => {
  const fleet = createFleet({ namespace: uniqueNamespace() })
  const store = keyvStore(fleet.cache())
  await fleet.close()
  const calls: [string, () => Promise<unknown>][] = [
    ['get', () => store.get('k')],
    ['set', () => store.set('k', 1)],
    ['set of undefined', () => store.set('k', undefined)],
    ['setMany', () => store.setMany([{ key: 'k', value: 1 }])],
    ['setMany([])', () => store.setMany([])],
    ['setMany of undefined values', () => store.setMany([{ key: 'k', value: undefined }])],
    ['getMany([])', () => store.getMany([])],
    ['delete', () => store.delete('k')],
    ['deleteMany([])', () => store.deleteMany([])],
    ['has', () => store.has('k')],
    ['clear', () => store.clear()],
  ]
  for (const [name, call] of calls) await assert.rejects(call(), ClosedError, name)
})
