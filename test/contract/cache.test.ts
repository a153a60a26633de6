/**
 * The cache contract, run on memory, standalone, sharded and cluster. Tests named `test_*` (or
 * after a RedisCacheStoreTest case) port Rails' shared cache behaviour tests
 * (activesupport/test/cache/behaviors/*.rb, stores/redis_cache_store_test.rb), with seconds
 * turned into milliseconds and Rails' `travel` into the cache's injected clock.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { isCompressed } from '../../src/cache/entry.ts'
import type { Cache, CacheKey, CacheOptions, Fleet, WriteOptions } from '../../src/index.ts'
import { forEachTopology } from '../harness/topologies.ts'
import {
  cacheWithClock,
  type RawAccess,
  raise,
  rawAccess,
  type TestClock,
  testClock,
  uniqueKey,
} from './cache-support.ts'

forEachTopology('Cache contract (Rails behaviour)', (env) => {
  let fleet: Fleet
  let raw: RawAccess
  before(async () => {
    fleet = await env.fleet()
    raw = await rawAccess(env.topology)
  })
  // node:test ignores a function returned by before(): the raw clients are closed here.
  after(() => raw.close())

  /** Rails' fixture: `expires_in: 60`, a raising error handler, and a clock we can move. */
  function setup(options: CacheOptions = {}): { cache: Cache; clock: TestClock; ns: string } {
    const clock = testClock()
    const ns = uniqueKey('ns')
    const cache = cacheWithClock(fleet, clock, {
      namespace: ns,
      expiresIn: 60_000,
      errorHandler: raise,
      ...options,
    })
    return { cache, clock, ns }
  }
  const fullKey = (ns: string, key: string) => `${env.namespace}:cache:${ns}:${key}`

  // ---- A. read / write / fetch ------------------------------------------------------------

  test('test_should_read_and_write_strings', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.write(k, 'bar'), true)
    assert.equal(await cache.read(k), 'bar')
  })

  test('test_should_overwrite', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    await cache.write(k, 'baz')
    assert.equal(await cache.read(k), 'baz')
  })

  test('test_fetch_without_cache_miss', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    const writes = cache.stats().writes
    let computed = false
    assert.equal(
      await cache.fetch(k, () => {
        computed = true
        return 'baz'
      }),
      'bar',
    )
    assert.equal(computed, false)
    assert.equal(cache.stats().writes, writes, 'a hit writes nothing')
  })

  test('test_fetch_with_cache_miss', async () => {
    const { cache, ns } = setup()
    const k = uniqueKey()
    assert.equal(await cache.fetch(k, () => 'baz'), 'baz')
    assert.equal(cache.stats().writes, 1)
    assert.equal(await cache.read(k), 'baz')
    const ttl = await raw.pttl(fullKey(ns, k))
    assert.ok(ttl > 50_000 && ttl <= 60_000, `written with the store's expiresIn, pttl ${ttl}`)
  })

  test('test_fetch_with_cache_miss_passes_key_to_block', async () => {
    const { cache } = setup()
    const k = 'abcdefghij'
    let miss = false
    const compute = (key: string) => {
      miss = true
      return key.length
    }
    assert.equal(await cache.fetch(k, compute), 10)
    assert.equal(miss, true)
    miss = false
    assert.equal(await cache.fetch(k, compute), 10)
    assert.equal(miss, false)
  })

  test('test_fetch_with_dynamic_options', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    const expiresAt = clock.now + 600_000
    const value = await cache.fetch(k, (_key, o) => {
      assert.equal(o.expiresIn, 60_000)
      assert.equal(o.expiresAt, undefined)
      assert.equal(o.version, undefined)
      o.expiresAt = expiresAt
      o.version = 'v42'
      assert.equal(o.expiresIn, undefined, 'setting expiresAt clears expiresIn')
      return 'bar'
    })
    assert.equal(value, 'bar')
    assert.equal(await cache.read(k, { version: 'v42' }), 'bar')
    assert.equal(await cache.read(k, { version: 'v41' }), undefined)
    clock.advance(599_000)
    assert.equal(await cache.read(k), 'bar', 'expiresAt from the compute replaced the 60 s default')
    clock.advance(1_000)
    assert.equal(await cache.read(k), undefined)
  })

  test('test_fetch_with_forced_cache_miss', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    const before = cache.stats()
    assert.equal(await cache.fetch(k, { force: true }, () => 'bar'), 'bar')
    const after = cache.stats()
    assert.equal(after.hits + after.misses, before.hits + before.misses + 1)
    assert.equal(after.writes, before.writes + 1, 'force always writes')
    assert.equal(after.fills, before.fills + 1)
  })

  test('test_fetch_with_cached_nil', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, null)
    const writes = cache.stats().writes
    assert.equal(await cache.fetch(k, () => 'baz'), null)
    assert.equal(cache.stats().writes, writes)
    assert.equal(cache.stats().hits, 1, 'a cached null is a hit')
  })

  test('test_fetch_cache_miss_with_skip_nil', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.fetch(k, { skipNil: true }, () => null), null)
    assert.equal(cache.stats().writes, 0)
    assert.equal(await cache.exist(k), false)
  })

  test('skip_nil is passed to ActiveSupport::Cache', async () => {
    const { cache } = setup({ skipNil: true })
    const k = uniqueKey()
    assert.equal(await cache.fetch(k, () => null), null)
    assert.equal(await cache.exist(k), false)
  })

  test('test_fetch_with_forced_cache_miss_with_block', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    assert.equal(await cache.fetch(k, { force: true }, () => 'foo_bar'), 'foo_bar')
    assert.equal(await cache.read(k), 'foo_bar')
  })

  test('test_fetch_with_forced_cache_miss_without_block', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    await assert.rejects(cache.fetch(k, { force: true }), {
      name: 'TypeError',
      message: /missing compute.*force: true requires a compute function/,
    })
    assert.equal(await cache.read(k), 'bar')
  })

  test('test_should_read_and_write_hash', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.write(k, { a: 'b' }), true)
    assert.deepEqual(await cache.read(k), { a: 'b' })
  })

  test('test_should_read_and_write_integer', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.write(k, 1), true)
    assert.equal(await cache.read(k), 1)
  })

  test('test_should_read_and_write_nil', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.write(k, null), true)
    assert.equal(await cache.read(k), null)
  })

  test('test_should_read_and_write_false', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.write(k, false), true)
    assert.equal(await cache.read(k), false)
  })

  test('test_original_store_objects_should_not_be_immutable', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    const value = { s: 'bar' }
    await cache.write(k, value)
    value.s = 'changed'
    assert.deepEqual(await cache.read(k), { s: 'bar' }, 'the cache kept its own copy')
    const read = (await cache.read<{ s: string }>(k))!
    read.s = 'mutated'
    assert.deepEqual(await cache.read(k), { s: 'bar' }, 'and hands out fresh ones')
  })

  test('test_setting_options_in_fetch_block_does_not_change_cache_options', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    await cache.fetch(k, (_key, o) => {
      o.expiresIn = 300_000
      return 'bar'
    })
    const k2 = uniqueKey()
    let seen: WriteOptions | undefined
    await cache.fetch(k2, (_key, o) => {
      seen = { expiresIn: o.expiresIn }
      return 'bar'
    })
    assert.deepEqual(seen, { expiresIn: 60_000 }, 'the next fetch sees the untouched default')
    clock.advance(60_000)
    assert.equal(await cache.read(k2), undefined)
    assert.equal(await cache.read(k), 'bar')
  })

  test('test_configuring_store_with_raw', async () => {
    const { cache, ns } = setup({ raw: true })
    await cache.write('foo', 'bar')
    assert.equal(await cache.read('foo'), 'bar')
    assert.equal((await raw.get(fullKey(ns, 'foo')))?.toString(), 'bar', 'stored as the plain string')
  })

  // ---- B. multi-key ------------------------------------------------------------------------

  test('test_read_multi', async () => {
    const { cache } = setup()
    const [k, k2, k3] = [uniqueKey(), uniqueKey(), uniqueKey()]
    await cache.write(k, 'bar')
    await cache.write(k2, 'baz')
    await cache.write(k3, 'biz')
    assert.deepEqual(
      await cache.readMulti([k, k2]),
      new Map([
        [k, 'bar'],
        [k2, 'baz'],
      ]),
    )
  })

  test('test_read_multi_empty_list', async () => {
    const { cache } = setup()
    assert.deepEqual(await cache.readMulti([]), new Map())
  })

  test('test_read_multi_with_expires', async () => {
    const { cache, clock } = setup()
    const [k, k2, k3] = [uniqueKey(), uniqueKey(), uniqueKey()]
    await cache.write(k, 'bar', { expiresIn: 10_000 })
    await cache.write(k2, 'baz')
    await cache.write(k3, 'biz')
    clock.advance(11_000)
    assert.deepEqual(await cache.readMulti([k, k2, uniqueKey()]), new Map([[k2, 'baz']]))
  })

  test('test_write_multi', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.writeMulti({ [`${k}1`]: 1, [`${k}2`]: 2 }), true)
    assert.equal(await cache.read(`${k}1`), 1)
    assert.equal(await cache.read(`${k}2`), 2)
  })

  // docs/cache.md: writes take fetch's option names, `force` and `skipNil` included, and ignore
  // them, in their types too (an object literal with them did not compile).
  test('write and writeMulti take force and skipNil, and ignore them', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    assert.equal(await cache.write(k, null, { force: true, skipNil: true }), true)
    assert.equal(await cache.exist(k), true)
    assert.equal(await cache.writeMulti({ [`${k}m`]: null }, { force: false, skipNil: true }), true)
    assert.equal(await cache.exist(`${k}m`), true)
  })

  test('test_write_multi_empty_hash', async () => {
    const { cache } = setup()
    assert.equal(await cache.writeMulti({}), true)
    assert.equal(await cache.writeMulti(new Map()), true)
  })

  test('test_write_multi_expires_in', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    await cache.writeMulti({ [k]: 1 }, { expiresIn: 10_000 })
    clock.advance(11_000)
    assert.equal(await cache.read(k), undefined)
  })

  test('test_fetch_multi', async () => {
    const { cache } = setup()
    const [k, k2, k3] = [uniqueKey(), uniqueKey(), uniqueKey()]
    await cache.write(k, 'bar')
    await cache.write(k2, 'biz')
    const values = await cache.fetchMulti([k, k2, k3], {}, (key) => `${key}${key}`)
    assert.deepEqual(
      values,
      new Map([
        [k, 'bar'],
        [k2, 'biz'],
        [k3, `${k3}${k3}`],
      ]),
    )
    assert.equal(await cache.read(k3), `${k3}${k3}`)
  })

  test('test_fetch_multi_empty_hash', async () => {
    const { cache } = setup()
    assert.deepEqual(
      await cache.fetchMulti([], {}, () => {
        throw new Error('Not called')
      }),
      new Map(),
    )
  })

  test('test_fetch_multi_without_expires_in', async () => {
    const { cache, ns } = setup()
    const [k, k2, k3] = [uniqueKey(), uniqueKey(), uniqueKey()]
    await cache.write(k, 'bar')
    await cache.write(k2, 'biz')
    const values = await cache.fetchMulti([k, k3, k2], { expiresIn: null }, (key) => `${key}${key}`)
    assert.deepEqual([...values.keys()], [k, k3, k2])
    assert.deepEqual([...values.values()], ['bar', `${k3}${k3}`, 'biz'])
    assert.equal(await cache.read(k3), `${k3}${k3}`)
    assert.equal(await raw.pttl(fullKey(ns, k3)), -1, 'an explicit null overrides the store default')
  })

  test('test_fetch_multi_with_objects', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    const foo = { cacheKey: () => k, title: 'FOO!' }
    const bar = { cacheKey: () => k2, title: 'BAR!' }
    await cache.write(k2, 'BAM!')
    const values = await cache.fetchMulti([foo, bar], {}, (o) => (o as typeof foo).title)
    assert.deepEqual(
      values,
      new Map([
        [foo, 'FOO!'],
        [bar, 'BAM!'],
      ]),
    )
  })

  test('test_fetch_multi_returns_ordered_names', async () => {
    const { cache } = setup()
    const [k, k2, k3] = [uniqueKey(), uniqueKey(), uniqueKey()]
    await cache.write(k, 'BAM')
    const values = await cache.fetchMulti([k2, k3, k], {}, (key) => String(key).toUpperCase())
    assert.deepEqual([...values.keys()], [k2, k3, k])
    assert.deepEqual([...values.values()], [k2.toUpperCase(), k3.toUpperCase(), 'BAM'])
  })

  test('test_fetch_multi_without_block', async () => {
    const { cache } = setup()
    await assert.rejects(
      cache.fetchMulti([uniqueKey()], {}, undefined as unknown as () => unknown),
      /missing compute: fetchMulti requires a compute function/,
    )
    await assert.rejects(cache.fetchMulti([], {}, undefined as unknown as () => unknown), TypeError)
  })

  test('test_fetch_multi_with_forced_cache_miss', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    await cache.write(k, 'bar')
    const values = await cache.fetchMulti([k, k2], { force: true }, (key) => `${key}${key}`)
    assert.deepEqual([...values.values()], [`${k}${k}`, `${k2}${k2}`])
    assert.equal(await cache.read(k), `${k}${k}`)
    assert.equal(await cache.read(k2), `${k2}${k2}`)
  })

  test('test_fetch_multi_with_skip_nil', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    const values = await cache.fetchMulti([k, k2], { skipNil: true }, (key) => (key === k ? key : null))
    assert.deepEqual(
      values,
      new Map([
        [k, k],
        [k2, null],
      ]),
    )
    assert.equal(await cache.exist(k2), false)
  })

  test('test_delete_multi', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    await cache.write(k, 'bar')
    await cache.write(k2, 'world')
    assert.equal(await cache.deleteMulti([k, uniqueKey(), k2]), 2)
    assert.equal(await cache.exist(k), false)
    assert.equal(await cache.exist(k2), false)
  })

  test('test_delete_multi_empty_list', async () => {
    const { cache } = setup()
    assert.equal(await cache.deleteMulti([]), 0)
  })

  test('test_delete_multi_does_not_mutate_names', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    const names = Object.freeze([k, k2])
    await cache.write(k, 'bar')
    await cache.write(k2, 'world')
    assert.equal(await cache.deleteMulti(names as string[]), 2)
    assert.deepEqual(names, [k, k2])
    await cache.write(k, 'bar')
    await cache.write(k2, 'world')
    assert.equal(await cache.deleteMulti(names as string[]), 2)
    assert.equal(await cache.exist(k), false)
  })

  // ---- C. exist / delete -------------------------------------------------------------------

  test('test_exist', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    assert.equal(await cache.exist(k), true)
    assert.equal(await cache.exist(uniqueKey()), false)
  })

  test('test_nil_exist', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, null)
    assert.equal(await cache.exist(k), true)
  })

  test('test_delete', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    assert.equal(await cache.exist(k), true)
    assert.equal(await cache.delete(k), true)
    assert.equal(await cache.exist(k), false)
  })

  test('test_delete_returns_false_if_not_exist', async () => {
    const { cache } = setup()
    assert.equal(await cache.delete(uniqueKey()), false)
  })

  // ---- D. keys -----------------------------------------------------------------------------

  test('test_cache_key', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write({ cacheKey: () => k }, 'bar')
    assert.equal(await cache.read(k), 'bar')
  })

  test('test_param_as_cache_key', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    const obj = { toParam: () => k } as unknown as Record<string, string>
    await cache.write(obj, 'bar')
    assert.equal(await cache.read(k), 'bar')
  })

  test('test_unversioned_cache_key', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    const obj = { cacheKey: () => k, cacheKeyWithVersion: () => `${k}-v1` }
    await cache.write(obj, 'bar')
    assert.equal(await cache.read(k), 'bar')
  })

  test('test_array_as_cache_key', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write([k, 'foo'], 'bar')
    assert.equal(await cache.read(`${k}/foo`), 'bar')
  })

  const instance = (name: string, id: number) => ({ cacheKey: () => `${name}/${id}`, toParam: () => 'hello' })

  test('test_array_with_single_instance_as_cache_key_uses_cache_key_method', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    const one = instance(k, 1)
    const two = instance(k2, 2)
    await cache.write([one], 'one')
    await cache.write([two], 'two')
    assert.equal(await cache.read([one]), 'one')
    assert.equal(await cache.read([two]), 'two')
  })

  test('test_array_with_multiple_instances_as_cache_key_uses_cache_key_method', async () => {
    const { cache } = setup()
    const [k, k2, k3] = [uniqueKey(), uniqueKey(), uniqueKey()]
    const [one, two, three] = [instance(k, 1), instance(k2, 2), instance(k3, 3)]
    await cache.write([one, three], 'one')
    await cache.write([two, three], 'two')
    assert.equal(await cache.read([one, three]), 'one')
    assert.equal(await cache.read([two, three]), 'two')
  })

  test('test_format_of_expanded_key_for_single_instance', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    const one = instance(k, 1)
    await cache.write(one, 'single')
    assert.equal(await cache.read(`${k}/1`), 'single')
    assert.equal(await cache.read([one]), 'single', 'a one-element array is its element')
  })

  test('test_hash_as_cache_key', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    await cache.write({ [k]: 1, [k2]: 2 }, 'bar')
    assert.equal(await cache.read({ [k2]: 2, [k]: 1 }), 'bar', 'order does not matter')
    await cache.write({ b: 2, a: 1 }, 'sorted')
    assert.equal(await cache.read('a=1/b=2'), 'sorted')
  })

  test('objects whose names or values hold / = % or nested values never share an entry', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    // Nested values (docs/cache.md, Keys) are CacheKeys too: this file's typecheck says so.
    const keys: CacheKey[] = [
      { [k]: 'x/b=1' },
      { [k]: 'x', b: 1 },
      { [`${k}=b`]: 1 },
      { [k]: 'b=1' },
      { [k]: 'x%2Fb%3D1' },
      // Nested values are bracketed: no string spells them.
      { [k]: { b: 1 } },
      { [k]: { b: 1, c: 2 } },
      { [k]: { b: 1 }, c: 2 },
      { [k]: ['x', 'b=1'] },
      { [k]: 'x/b=1/' },
      { [k]: '{b=1}' },
      [k, null, { n: [1, null] }],
    ]
    for (const [i, key] of keys.entries()) await cache.write(key, i)
    for (const [i, key] of keys.entries()) assert.equal(await cache.read(key), i, JSON.stringify(key))
    assert.equal(
      await cache.read(`b=1/${k}=x`),
      1,
      'without those characters, sorted k=v pairs joined with /',
    )
  })

  test('test_keys_are_case_sensitive', async () => {
    const { cache } = setup()
    await cache.write('case_sensitive_key', 'bar')
    assert.equal(await cache.read('CASE_SENSITIVE_KEY'), undefined)
  })

  test('test_blank_key', async () => {
    const { cache } = setup()
    for (const blank of [null, undefined, '', [], {}] as unknown as string[]) {
      await assert.rejects(
        cache.write(blank, 'bar'),
        (error) => error instanceof TypeError && /key cannot be blank/.test(error.message),
      )
      await assert.rejects(cache.read(blank), /key cannot be blank/)
      await assert.rejects(cache.delete(blank), /key cannot be blank/)
    }
    const valid: CacheKey[] = ['foo', ['bar'], { foo: 'bar' }, 0, 1, { cacheKey: () => 'x' }]
    for (const key of valid) {
      assert.equal(await cache.write(key, 'bar'), true)
      assert.equal(await cache.read(key), 'bar')
      assert.equal(await cache.delete(key), true)
    }
  })

  async function rawRoundTrip(cache: Cache, key: string): Promise<void> {
    assert.equal(await cache.write(key, '1', { raw: true }), true)
    assert.equal(await cache.read(key, { raw: true }), '1')
    assert.equal(await cache.fetch(key, { raw: true }), '1')
    assert.equal(await cache.delete(key), true)
    assert.equal(await cache.fetch(key, { raw: true }, () => '2'), '2')
    assert.equal(await cache.increment(key), 3)
    assert.equal(await cache.decrement(key), 2)
  }

  test('test_absurd_key_characters', async () => {
    const { cache } = setup()
    await rawRoundTrip(cache, "#/:*(<+=> )&$%@?;'\"'`~-")
  })

  test('test_common_utf8_values', async () => {
    const { cache } = setup()
    await rawRoundTrip(cache, 'ümlaut')
  })

  test('test_<encoding>_encoded_values', async () => {
    const { cache } = setup()
    for (const key of ['foo_utf_8', '日本語キー', 'emoji_😀', 'tab\tnew\nline', '{braces}inside']) {
      await rawRoundTrip(cache, key)
    }
  })

  test('test_really_long_keys', async () => {
    const { cache, ns } = setup()
    const key = 'abcdefghijklmnop'.repeat(2048) // 32 KB
    assert.equal(await cache.write(key, 'bar'), true)
    assert.equal(await cache.read(key), 'bar')
    assert.equal(await cache.fetch(key, () => 'baz'), 'bar')
    assert.equal(await cache.read(`${key}x`), undefined)
    assert.deepEqual(await cache.readMulti([key]), new Map([[key, 'bar']]))
    assert.equal(await raw.exists(fullKey(ns, key)), false, 'the full key was not used as is')
    // Two keys that differ only after the cut get different entries.
    await cache.write(`${key}y`, 'other')
    assert.equal(await cache.read(key), 'bar')
    assert.equal(await cache.read(`${key}y`), 'other')
  })

  test('test_max_key_size', async () => {
    const { cache, ns } = setup({ maxKeySize: 96 })
    const key = 'foobar'.repeat(20)
    await cache.write(key, 'bar')
    assert.equal(await cache.read(key), 'bar')
    const full = fullKey(ns, key)
    assert.equal(await raw.exists(full), false)
    const prefix = full.slice(0, 96 - 38)
    const { createHash } = await import('node:crypto')
    const digest = createHash('sha256').update(full).digest('hex').slice(0, 32)
    const shortened = `${prefix}:hash:${digest}`
    assert.equal(Buffer.byteLength(shortened), 96)
    assert.equal((await raw.get(shortened)) !== undefined, true, 'stored under the shortened key')
  })

  test('a short key spelled as the key a long one was shortened to has an entry of its own', async () => {
    const { cache, ns } = setup({ maxKeySize: 96 })
    const key = 'foobar'.repeat(20)
    await cache.write(key, 'long')
    const full = fullKey(ns, key)
    const { createHash } = await import('node:crypto')
    const shortened = `${full.slice(0, 96 - 38)}:hash:${createHash('sha256').update(full).digest('hex').slice(0, 32)}`
    assert.equal(await raw.exists(shortened), true, 'the long key is stored there')
    const lookalike = shortened.slice(fullKey(ns, '').length)
    assert.equal(await cache.read(lookalike), undefined, "it does not read the long key's entry")
    assert.equal(await cache.write(lookalike, 'short'), true)
    assert.equal(await cache.read(key), 'long', 'nor overwrite it')
    assert.equal(await cache.read(lookalike), 'short')
    // Nor through a cache of the same namespace that shortens no key.
    const unlimited = cacheWithClock(fleet, testClock(), {
      namespace: ns,
      errorHandler: raise,
      maxKeySize: false,
    })
    assert.equal(await unlimited.read(lookalike), undefined)
    assert.equal(await unlimited.write(lookalike, 'unlimited'), true)
    assert.equal(await cache.read(key), 'long')
  })

  test('test_max_key_size_disabled', async () => {
    const { cache, ns } = setup({ maxKeySize: false })
    const key = 'a'.repeat(2000)
    await cache.write(key, 'bar')
    assert.equal(await cache.read(key), 'bar')
    assert.equal(await raw.exists(fullKey(ns, key)), true)
  })

  // ---- E. expiry and its validation --------------------------------------------------------

  test('test_expires_in', async () => {
    const { cache, clock } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    await cache.write(k, 'bar', { expiresIn: 60_000 })
    await cache.write(k2, 'spam', { expiresIn: 120_000 })
    assert.equal(await cache.read(k), 'bar')
    assert.equal(await cache.read(k2), 'spam')
    clock.advance(30_000)
    assert.equal(await cache.read(k), 'bar')
    assert.equal(await cache.read(k2), 'spam')
    clock.advance(31_000)
    assert.equal(await cache.read(k), undefined)
    assert.equal(await cache.read(k2), 'spam')
    clock.advance(60_000)
    assert.equal(await cache.read(k2), undefined)
  })

  test('test_expires_at', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar', { expiresAt: new Date(clock.now + 15_000) })
    clock.advance(10_000)
    assert.equal(await cache.read(k), 'bar')
    clock.advance(5_000)
    assert.equal(await cache.read(k), undefined, 'a read at exactly expiresAt misses')
  })

  test('test_expires_in_and_expires_at', async () => {
    const { cache, clock } = setup()
    await assert.rejects(
      cache.write(uniqueKey(), 'bar', { expiresIn: 60_000, expiresAt: clock.now + 60_000 }),
      {
        name: 'TypeError',
        message: /either expiresIn or expiresAt can be supplied, but not both/,
      },
    )
  })

  test('test_invalid_expiration_time_raises_an_error_when_raise_on_invalid_cache_expiration_time_is_true', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await assert.rejects(cache.write(k, 'bar', { expiresIn: -60_000 }), {
      name: 'TypeError',
      message: /cache expiration time is invalid, cannot be negative or zero: -60000/,
    })
    await assert.rejects(cache.write(k, 'bar', { expiresIn: 0 }), /cannot be negative or zero: 0/)
    assert.equal(await cache.read(k), undefined)
  })

  test('test_expires_in_from_now_raises_an_error', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await assert.rejects(
      cache.write(k, 'bar', { expiresIn: new Date() as unknown as number }),
      /expiresIn should not be a Date. Did you mean to use expiresAt\? Got: /,
    )
    assert.equal(await cache.read(k), undefined)
  })

  test('test_write_expires_at', async () => {
    const { cache, ns, clock } = setup()
    // expiresAt is relative to the cache's clock (frozen at setup), not to a later Date.now().
    await cache.write('key_with_expires_at', 'bar', { expiresAt: clock.now + 30 * 60_000 })
    const ttl = await raw.pttl(fullKey(ns, 'key_with_expires_at'))
    assert.ok(ttl > 0 && ttl <= 30 * 60_000, `pttl ${ttl}`)
  })

  test('test_write_with_unless_exist', async () => {
    const { cache } = setup()
    assert.equal(await cache.write('foo', 1), true)
    assert.equal(await cache.write('foo', 2, { unlessExist: true }), false)
    assert.equal(await cache.read('foo'), 1)
  })

  test('unlessExist writes over an entry past its exact expiry, though raceConditionTtl keeps it in Redis a while', async () => {
    const { cache, clock } = setup()
    await cache.write('k', 'old', { expiresIn: 100, raceConditionTtl: 1000 })
    await cache.writeMulti({ m: 'old' }, { expiresIn: 100, raceConditionTtl: 1000 })
    await cache.write('raw', 'text', { raw: true, expiresIn: 60_000 })
    assert.equal(await cache.write('k', 'live', { unlessExist: true }), false, 'still live')
    clock.advance(100)
    assert.equal(await cache.read('k'), undefined)
    assert.equal(await cache.exist('k'), false)
    assert.equal(await cache.write('k', 'new', { unlessExist: true }), true, 'no value: written')
    assert.equal(await cache.read('k'), 'new')
    assert.equal(await cache.write('k', 'newer', { unlessExist: true }), false, 'a live value again')
    await cache.writeMulti({ m: 'new', fresh: 'new' }, { unlessExist: true })
    assert.deepEqual(
      await cache.readMulti(['m', 'fresh']),
      new Map([
        ['m', 'new'],
        ['fresh', 'new'],
      ]),
    )
    // A raw value (no header, no exact expiry) is a value until Redis expires it, as SET NX sees it.
    assert.equal(await cache.write('raw', 'other', { unlessExist: true, raw: true }), false)
  })

  // ---- F. race condition TTL ---------------------------------------------------------------

  test('test_race_condition_protection_skipped_if_not_defined', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar')
    clock.advance(60_000)
    const value = await cache.fetch(k, async () => {
      assert.equal(await cache.read(k), undefined)
      return 'baz'
    })
    assert.equal(value, 'baz')
  })

  test('test_race_condition_protection_is_limited', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar', { expiresIn: 60_000 })
    clock.advance(71_000)
    const value = await cache.fetch(k, { raceConditionTtl: 10_000 }, async () => {
      assert.equal(await cache.read(k), undefined)
      return 'baz'
    })
    assert.equal(value, 'baz')
  })

  test('test_race_condition_protection_is_safe', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar', { expiresIn: 60_000 })
    clock.advance(61_000)
    await assert.rejects(
      cache.fetch(k, { raceConditionTtl: 10_000 }, async () => {
        assert.equal(await cache.read(k), 'bar')
        throw new Error('compute failed')
      }),
      /compute failed/,
    )
    assert.equal(await cache.read(k), 'bar', 'the stale value stays')
    clock.advance(30_000)
    assert.equal(await cache.read(k), undefined, 'until the window ends')
  })

  test('test_race_condition_protection', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    await cache.write(k, 'bar', { expiresIn: 60_000 })
    clock.advance(61_000)
    const value = await cache.fetch(k, { raceConditionTtl: 10_000 }, async () => {
      assert.equal(await cache.read(k), 'bar', 'others read the stale value meanwhile')
      return 'baz'
    })
    assert.equal(value, 'baz')
    assert.equal(await cache.read(k), 'baz')
  })

  test('test_fetch_race_condition_protection', async () => {
    const { cache, clock } = setup()
    const k = uniqueKey()
    const original = 'original'
    await cache.write(k, original, { expiresIn: 60_000 })
    clock.advance(61_000)
    const fresh = await cache.fetch(k, { expiresIn: 60_000, raceConditionTtl: 10_000 }, () => uniqueKey('v'))
    assert.notEqual(fresh, original)
    clock.advance(59_000)
    assert.equal(
      await cache.read(k),
      fresh,
      "the new value got the caller's expiresIn, not 2 x raceConditionTtl",
    )
  })

  test('test_fetch_multi_race_condition_protection', async () => {
    const { cache, clock } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    await cache.write(k, 'foo', { expiresIn: 60_000 })
    await cache.write(k2, 'bar', { expiresIn: 100_000 })
    clock.advance(71_000)
    const values = await cache.fetchMulti([k, k2], { raceConditionTtl: 10_000 }, async () => {
      assert.equal(await cache.read(k), undefined)
      assert.equal(await cache.read(k2), 'bar')
      return 'baz'
    })
    assert.deepEqual([...values.values()], ['baz', 'bar'])
  })

  test('test_coder_is_used_during_handle_expired_entry_when_expired', async () => {
    const { cache, clock, ns } = setup()
    await cache.write('foo', 'bar', { expiresIn: 1_000 })
    clock.advance(2_000)
    let staleWasCompressed = false
    const value = await cache.fetch(
      'foo',
      { raceConditionTtl: 5_000, compress: true, compressThreshold: 0 },
      async () => {
        const stored = await raw.get(fullKey(ns, 'foo'))
        staleWasCompressed = stored !== undefined && isCompressed(stored)
        return 'baz'.repeat(100)
      },
    )
    assert.equal(value, 'baz'.repeat(100))
    // "bar" itself does not shrink, so the stale rewrite is not compressed; the new value is.
    assert.equal(staleWasCompressed, false)
    assert.equal(isCompressed((await raw.get(fullKey(ns, 'foo')))!), true)
  })

  test('race condition TTLs in Redis: padded by 5 minutes, never for raw, 2 x ttl for the stale rewrite', async () => {
    const { cache, clock, ns } = setup()
    const [k, k2, k3] = [uniqueKey(), uniqueKey(), uniqueKey()]
    await cache.write(k, 'v', { expiresIn: 60_000, raceConditionTtl: 10_000 })
    const padded = await raw.pttl(fullKey(ns, k))
    assert.ok(padded > 355_000 && padded <= 360_000, `padded pttl ${padded}`)
    await cache.write(k2, 'v', { expiresIn: 60_000 })
    assert.ok((await raw.pttl(fullKey(ns, k2))) <= 60_000)
    await cache.write(k3, '1', { raw: true, expiresIn: 60_000, raceConditionTtl: 10_000 })
    assert.ok((await raw.pttl(fullKey(ns, k3))) <= 60_000, 'raw writes are not padded')
    clock.advance(61_000)
    let staleTtl = 0
    await cache.fetch(k, { raceConditionTtl: 10_000, expiresIn: 60_000 }, async () => {
      staleTtl = await raw.pttl(fullKey(ns, k))
      return 'new'
    })
    assert.ok(staleTtl > 315_000 && staleTtl <= 320_000, `stale rewrite pttl ${staleTtl}`)
    const fresh = await raw.pttl(fullKey(ns, k))
    assert.ok(fresh > 355_000 && fresh <= 360_000, `regenerated pttl ${fresh}`)
  })

  // ---- G. versions -------------------------------------------------------------------------

  test('test_fetch_with_right_version_should_hit', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.fetch(k, { version: 1 }, () => 'v')
    assert.equal(await cache.read(k, { version: 1 }), 'v')
  })

  test('test_fetch_with_wrong_version_should_miss', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.fetch(k, { version: 1 }, () => 'v')
    assert.equal(await cache.read(k, { version: 2 }), undefined)
  })

  test('test_read_with_right_version_should_hit', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'v', { version: 1 })
    assert.equal(await cache.read(k, { version: 1 }), 'v')
  })

  test('test_read_with_wrong_version_should_miss', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'v', { version: 1 })
    assert.equal(await cache.read(k, { version: 2 }), undefined)
    assert.equal(await cache.read(k, { version: 1 }), 'v', 'a mismatched read does not delete')
  })

  test('test_exist_with_right_version_should_be_true', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'x', { version: 1 })
    assert.equal(await cache.exist(k, { version: 1 }), true)
  })

  test('test_exist_with_wrong_version_should_be_false', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'x', { version: 1 })
    assert.equal(await cache.exist(k, { version: 2 }), false)
  })

  const model = (name: string, id: number, version: number) => ({
    cacheKey: () => `${name}/${id}`,
    cacheVersion: version,
  })

  test('test_reading_and_writing_with_model_supporting_cache_version', async () => {
    const { cache } = setup()
    const m = uniqueKey('model')
    await cache.write(model(m, 1, 1), 'v')
    assert.equal(await cache.read(model(m, 1, 1)), 'v')
    assert.equal(await cache.read(model(m, 1, 2)), undefined)
  })

  test('test_reading_and_writing_with_model_supporting_cache_version_using_nested_key', async () => {
    const { cache } = setup()
    const m = uniqueKey('model')
    await cache.write(['something', model(m, 1, 1)], 'v')
    assert.equal(await cache.read(['something', model(m, 1, 1)]), 'v')
    assert.equal(await cache.read(['something', model(m, 1, 2)]), undefined)
  })

  test('test_fetching_with_model_supporting_cache_version', async () => {
    const { cache } = setup()
    const m = uniqueKey('model')
    await cache.fetch(model(m, 1, 1), () => 'v')
    assert.equal(await cache.fetch(model(m, 1, 1), () => 'other'), 'v')
    assert.equal(await cache.fetch(model(m, 1, 2), () => 'other'), 'other')
  })

  test('test_exist_with_model_supporting_cache_version', async () => {
    const { cache } = setup()
    const m = uniqueKey('model')
    await cache.write(model(m, 1, 1), 'v')
    assert.equal(await cache.exist(model(m, 1, 1)), true)
    assert.equal(await cache.fetch(model(m, 1, 2), {}), undefined)
  })

  test('test_fetch_multi_with_model_supporting_cache_version', async () => {
    const { cache } = setup()
    const m = uniqueKey('model')
    const [m1v1, m2v1, m2v2] = [model(m, 1, 1), model(m, 2, 1), model(m, 2, 2)]
    const keyOf = (o: unknown) => (o as { cacheKey(): string }).cacheKey()
    assert.deepEqual([...(await cache.fetchMulti([m1v1, m2v1], {}, keyOf)).values()], [`${m}/1`, `${m}/2`])
    const second = await cache.fetchMulti([m1v1, m2v2], {}, (o) => `${keyOf(o)} 2nd`)
    assert.deepEqual([...second.values()], [`${m}/1`, `${m}/2 2nd`])
  })

  test('readMulti checks each key against its own cacheVersion, or all against the version option', async () => {
    const { cache } = setup()
    const m = uniqueKey('model')
    const plain = uniqueKey()
    await cache.write(model(m, 1, 1), 'one')
    await cache.write(model(m, 2, 1), 'two')
    await cache.write(plain, 'plain', { version: 5 })
    const mixed = await cache.readMulti([model(m, 1, 1), model(m, 2, 2), plain])
    assert.deepEqual([...mixed.values()], ['one', 'plain'], 'model 2 at version 2 is a miss')
    const pinned = await cache.readMulti([`${m}/1`, `${m}/2`, plain], { version: 1 })
    assert.deepEqual([...pinned.keys()], [`${m}/1`, `${m}/2`], 'the plain key was written at version 5')
  })

  test('a model whose cacheVersion() returns nothing is unversioned, as in Rails', async () => {
    const { cache } = setup()
    const m = uniqueKey('model')
    const unversioned = { cacheKey: () => `${m}/1`, cacheVersion: () => undefined }
    await cache.write(unversioned, 'plain')
    assert.equal(await cache.read(model(m, 1, 2)), 'plain', 'an unversioned entry matches any version')
    await cache.write(model(m, 1, 3), 'versioned')
    assert.equal(await cache.read(unversioned), 'versioned', 'an unversioned read matches any version')
    const objectVersion = { cacheKey: () => `${m}/1`, cacheVersion: () => ({ v: 1 }) }
    await assert.rejects(cache.read(objectVersion as never), {
      code: 'ERR_INVALID_ARGUMENT',
    })
  })

  test('test_version_is_normalized', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 'v', { version: 1 })
    assert.equal(await cache.read(k, { version: '1' }), 'v')
  })

  test('unversioned entries and unversioned reads match any version', async () => {
    const { cache } = setup()
    const [k, k2] = [uniqueKey(), uniqueKey()]
    await cache.write(k, 'plain')
    await cache.write(k2, 'versioned', { version: 3 })
    assert.equal(await cache.read(k, { version: 7 }), 'plain')
    assert.equal(await cache.read(k2), 'versioned')
  })

  // ---- H. counters -------------------------------------------------------------------------

  test('test_increment', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 1, { raw: true })
    assert.equal(await cache.read(k, { raw: true }), '1')
    assert.equal(await cache.increment(k), 2)
    assert.equal(await cache.read(k, { raw: true }), '2')
    assert.equal(await cache.increment(k), 3)
    assert.equal(await cache.increment(uniqueKey()), 1)
    assert.equal(await cache.increment(uniqueKey(), 100), 100)
  })

  test('test_decrement', async () => {
    const { cache } = setup()
    const k = uniqueKey()
    await cache.write(k, 3, { raw: true })
    assert.equal(await cache.decrement(k), 2)
    assert.equal(await cache.decrement(k), 1)
    assert.equal(await cache.decrement(uniqueKey()), -1)
    assert.equal(await cache.decrement(uniqueKey(), 100), -100)
  })

  test('test_read_counter_and_write_counter', async () => {
    const { cache, ns } = setup()
    const k = uniqueKey()
    assert.equal(await cache.writeCounter(k, 1), true)
    assert.equal((await raw.get(fullKey(ns, k)))?.toString(), '1', 'a plain integer string')
    assert.equal(await cache.readCounter(k), 1)
    assert.equal(await cache.increment(k), 2)
    assert.equal(await cache.readCounter(k), 2)
    assert.equal(await cache.readCounter(uniqueKey()), undefined)
  })

  test('test_ttl_isnt_updated', async () => {
    const { cache, ns } = setup()
    const k = uniqueKey()
    assert.equal(await cache.increment(k, 1, { expiresIn: 60_000 }), 1)
    assert.equal(await cache.increment(k, 1, { expiresIn: 5_000_000 }), 2)
    // The first TTL still holds (read from Redis, not waited for: no timing in this test).
    const ttl = await raw.pttl(fullKey(ns, k))
    assert.ok(ttl > 0 && ttl <= 60_000, `TTL ${ttl} is the first one`)
  })

  test('test_increment_ttl', async () => {
    const { cache, ns } = setup({ expiresIn: undefined })
    await raw.set(fullKey(ns, 'jar'), '10')
    assert.equal(await cache.increment('jar', 1), 11)
    assert.equal((await raw.get(fullKey(ns, 'jar')))?.toString(), '11')
    assert.equal(await raw.pttl(fullKey(ns, 'jar')), -1)
    assert.equal(await cache.increment('kar', 1), 1)
    assert.equal(await raw.pttl(fullKey(ns, 'kar')), -1)
  })

  test('test_increment_expires_in', async () => {
    const { cache, ns } = setup({ expiresIn: undefined })
    await cache.increment('foo', 1, { expiresIn: 60_000 })
    assert.ok((await raw.pttl(fullKey(ns, 'foo'))) > 0)
    await raw.set(fullKey(ns, 'bar'), '1', 120_000)
    await cache.increment('bar', 1, { expiresIn: 60_000 })
    assert.ok((await raw.pttl(fullKey(ns, 'bar'))) > 60_000, 'an existing TTL is kept')
    await raw.set(fullKey(ns, 'dar'), '10')
    await cache.increment('dar', 1, { expiresIn: 60_000 })
    assert.ok((await raw.pttl(fullKey(ns, 'dar'))) > 0, 'a key without TTL gets one')
  })

  test('test_decrement_ttl', async () => {
    const { cache, ns } = setup({ expiresIn: undefined })
    await raw.set(fullKey(ns, 'jar'), '10')
    assert.equal(await cache.decrement('jar', 1), 9)
    assert.equal(await raw.pttl(fullKey(ns, 'jar')), -1)
    assert.equal(await cache.decrement('kar', 1), -1)
    assert.equal(await raw.pttl(fullKey(ns, 'kar')), -1)
  })

  test('test_decrement_expires_in', async () => {
    const { cache, ns } = setup({ expiresIn: undefined })
    await cache.decrement('foo', 1, { expiresIn: 60_000 })
    assert.ok((await raw.pttl(fullKey(ns, 'foo'))) > 0)
    await raw.set(fullKey(ns, 'bar'), '1', 120_000)
    await cache.decrement('bar', 1, { expiresIn: 60_000 })
    assert.ok((await raw.pttl(fullKey(ns, 'bar'))) > 60_000)
  })

  test('the store default expiresIn applies to counters', async () => {
    const { cache, ns } = setup()
    await cache.increment('defaulted')
    const ttl = await raw.pttl(fullKey(ns, 'defaulted'))
    assert.ok(ttl > 0 && ttl <= 60_000, `pttl ${ttl}`)
  })

  // ---- I. deleteMatched / clear ------------------------------------------------------------

  test('DeleteMatchedTest deletes keys matching glob', async () => {
    const { cache } = setup()
    const prefix = uniqueKey('prefix')
    const k = `${prefix}${uniqueKey()}`
    const other = uniqueKey('other')
    await cache.write(k, 'bar')
    await cache.write(other, 'baz')
    assert.equal(await cache.deleteMatched(`${prefix}*`), 1)
    assert.equal(await cache.exist(k), false)
    assert.equal(await cache.exist(other), true)
  })

  test('DeleteMatchedTest fails with regexp matchers', async () => {
    const { cache } = setup()
    await assert.rejects(cache.deleteMatched(/OO/i as unknown as string), {
      name: 'TypeError',
      message: /only Redis glob strings are supported: \/OO\/i/,
    })
  })

  test('test_delete_matched', async () => {
    const { cache } = setup()
    for (const key of ['foo', 'fu', 'foo/bar', 'fu/baz']) await cache.write(key, 'bar')
    assert.equal(await cache.deleteMatched('*oo*'), 2)
    assert.equal(await cache.exist('foo'), false)
    assert.equal(await cache.exist('foo/bar'), false)
    assert.equal(await cache.exist('fu'), true)
    assert.equal(await cache.exist('fu/baz'), true)
  })

  test('deleteMatched is bounded by the namespace, and glob characters in it are literal', async () => {
    const { cache: a } = setup({ namespace: `a*${uniqueKey()}` })
    const { cache: b } = setup()
    await a.write('same', 1)
    await b.write('same', 2)
    assert.equal(await b.deleteMatched('*'), 1)
    assert.equal(await a.read('same'), 1)
    assert.equal(await a.deleteMatched('s?me'), 1)
  })

  test('ClearTest clear all cache key', async () => {
    const { cache } = setup()
    await cache.write('foo', 'bar')
    await cache.write('fu', 'baz')
    await cache.clear()
    assert.equal(await cache.exist('foo'), false)
    assert.equal(await cache.exist('fu'), false)
  })

  test('ClearTest only clear namespace cache key', async () => {
    const { cache, ns } = setup()
    const outside = `${env.namespace}:cache:${ns}-not-mine`
    await raw.set(outside, 'bar')
    const store = fleet.store()
    await store.set('untouched', 1)
    await cache.write('foo', 'bar')
    await cache.clear()
    assert.equal(await cache.exist('foo'), false)
    assert.equal(await raw.exists(outside), true, 'a key outside the cache namespace survives')
    assert.equal(await store.get('untouched'), 1)
  })

  test('ClearTest clear all cache key with RedisClient::HashRing', async () => {
    const { cache } = setup()
    const keys = Array.from({ length: 50 }, (_, i) => `spread-${i}`)
    await cache.writeMulti(Object.fromEntries(keys.map((k) => [k, k])))
    await cache.clear()
    assert.deepEqual(await cache.readMulti(keys), new Map())
  })

  // ---- J. compression ----------------------------------------------------------------------

  const SMALL_STRING = '0'.repeat(100)
  const LARGE_STRING = '0'.repeat(2048)
  const SMALL_OBJECT = { data: SMALL_STRING }
  const LARGE_OBJECT = { data: LARGE_STRING }

  async function compressed(cache: Cache, ns: string, value: unknown, o?: WriteOptions): Promise<boolean> {
    const k = uniqueKey()
    await cache.write(k, value, o)
    assert.deepEqual(await cache.read(k), value, 'round-trips')
    return isCompressed((await raw.get(fullKey(ns, k)))!)
  }

  test('compression by default', async () => {
    const { cache, ns } = setup()
    assert.equal(await compressed(cache, ns, SMALL_STRING), false)
    assert.equal(await compressed(cache, ns, SMALL_OBJECT), false)
    assert.equal(await compressed(cache, ns, LARGE_STRING), true)
    assert.equal(await compressed(cache, ns, LARGE_OBJECT), true)
  })

  test('compression can be disabled', async () => {
    const { cache, ns } = setup({ compress: false })
    assert.equal(await compressed(cache, ns, LARGE_STRING), false)
    assert.equal(await compressed(cache, ns, LARGE_OBJECT), false)
  })

  test(':compress method option overrides initializer option', async () => {
    const on = setup({ compress: true })
    assert.equal(await compressed(on.cache, on.ns, LARGE_OBJECT, { compress: false }), false)
    const off = setup({ compress: false })
    assert.equal(await compressed(off.cache, off.ns, LARGE_OBJECT, { compress: true }), true)
    assert.equal(await compressed(off.cache, off.ns, SMALL_OBJECT, { compress: true }), false)
  })

  test('low :compress_threshold triggers compression', async () => {
    const { cache, ns } = setup({ compress: true, compressThreshold: 1 })
    assert.equal(await compressed(cache, ns, SMALL_STRING), true)
    assert.equal(await compressed(cache, ns, SMALL_OBJECT), true)
  })

  test('high :compress_threshold inhibits compression', async () => {
    const { cache, ns } = setup({ compress: true, compressThreshold: 1024 * 1024 })
    assert.equal(await compressed(cache, ns, LARGE_STRING), false)
    assert.equal(await compressed(cache, ns, LARGE_OBJECT), false)
  })

  test(':compress_threshold method option overrides initializer option', async () => {
    const low = setup({ compressThreshold: 1 })
    assert.equal(await compressed(low.cache, low.ns, LARGE_OBJECT, { compressThreshold: 1024 * 1024 }), false)
    const high = setup({ compressThreshold: 1024 * 1024 })
    assert.equal(await compressed(high.cache, high.ns, SMALL_OBJECT, { compressThreshold: 1 }), true)
  })

  test('compression ignores nil', async () => {
    const { cache, ns } = setup()
    assert.equal(await compressed(cache, ns, null, { compress: true, compressThreshold: 1 }), false)
  })

  test('compression ignores incompressible data', async () => {
    const { cache, ns } = setup({ compressThreshold: 1 })
    // Every printable ASCII character once (but the two JSON escapes): nothing for deflate to use.
    const incompressible = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))
      .filter((c) => c !== '"' && c !== '\\')
      .join('')
    assert.equal(await compressed(cache, ns, ''), false)
    assert.equal(await compressed(cache, ns, incompressible), false)
  })

  test('RawTest does not compress values read with raw enabled', async () => {
    const { cache, ns } = setup({ compressThreshold: 1 })
    await cache.write('foo', LARGE_STRING, { raw: true })
    assert.equal(await cache.read('foo', { raw: true }), LARGE_STRING)
    assert.equal(
      (await raw.get(fullKey(ns, 'foo')))?.toString(),
      LARGE_STRING,
      'the exact string, no envelope',
    )
  })

  test('ReadDeleteTest-like: a plain string written by another client reads back as that string', async () => {
    const { cache, ns } = setup()
    await raw.set(fullKey(ns, 'external'), 'hello from redis-cli')
    assert.equal(await cache.read('external'), 'hello from redis-cli')
  })
})
