/**
 * `redfleet/keyv` with the real `keyv`, `cache-manager` and `cacheable` packages, on every
 * topology: what those libraries do (namespaces, TTLs, batches, clear, wrap) works on a redfleet
 * cache, and stays inside the cache's namespace.
 */
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from 'cache-manager'
import { Cacheable } from 'cacheable'
import Keyv from 'keyv'
import type { Cache, Fleet } from '../../src/index.ts'
import { keyvStore } from '../../src/integrations/keyv.ts'
import { forEachTopology } from '../harness/topologies.ts'

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

    await keyv.set('brief', 'x', 50)
    assert.equal(await keyv.get('brief'), 'x')
    await sleep(80)
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
