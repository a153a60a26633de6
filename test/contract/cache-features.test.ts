/**
 * The cache beyond Rails, on all four topologies: typed values, tags, model versions, tenants,
 * stampede protection inside a process and across fleets, instrumentation, stats, close.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type CacheEvent,
  type CacheOptions,
  ClosedError,
  type Fleet,
  SerializationError,
} from '../../src/index.ts'
import { forEachTopology } from '../harness/topologies.ts'
import { unreadableValues } from '../harness/unreadable.ts'
import {
  cacheWithClock,
  opening,
  type RawAccess,
  raise,
  rawAccess,
  testClock,
  uniqueKey,
} from './cache-support.ts'

forEachTopology('Cache contract (redfleet features)', (env) => {
  let fleet: Fleet
  let raw: RawAccess
  before(async () => {
    fleet = await env.fleet()
    raw = await rawAccess(env.topology)
  })
  // node:test ignores a function returned by before(): the raw clients are closed here.
  after(() => raw.close())
  const cacheOf = (options: CacheOptions = {}, on = fleet) =>
    on.cache({ namespace: uniqueKey('ns'), errorHandler: raise, ...options })

  test('typed values round-trip: Date, Map, Set, BigInt, Buffer, Uint8Array, undefined in containers', async () => {
    const cache = cacheOf()
    const value = {
      when: new Date('2024-02-29T12:34:56.789Z'),
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set(['x', 'y'])],
      ]),
      set: new Set([1, 'two', null]),
      big: 12345678901234567890n,
      negativeBig: -5n,
      buffer: Buffer.from([0, 1, 2, 250, 255]),
      bytes: new Uint8Array([9, 8, 7]),
      missing: undefined,
      list: [1, undefined, 3],
      numbers: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0],
      nested: { deep: [{ d: new Date(0) }] },
      unicode: 'héllo wörld ✓ 日本語 🚀',
    }
    await cache.write('typed', value)
    const back = (await cache.read<typeof value>('typed'))!
    assert.deepEqual(back, value)
    assert.ok(back.when instanceof Date && back.map instanceof Map && back.set instanceof Set)
    assert.equal(typeof back.big, 'bigint')
    assert.ok(Buffer.isBuffer(back.buffer))
    assert.ok(back.bytes instanceof Uint8Array && !Buffer.isBuffer(back.bytes))
    assert.ok('missing' in back, 'an undefined property is kept')
    assert.equal(back.list.length, 3)
    // A hole stays a hole (JSON would write null), distinct from an undefined element.
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    const holes = [1, , 3, undefined]
    await cache.write('holes', holes)
    const holesBack = (await cache.read<unknown[]>('holes'))!
    assert.deepStrictEqual(holesBack, holes)
    assert.ok(!(1 in holesBack) && 3 in holesBack)
    await cache.write('invalid date', new Date(Number.NaN))
    const invalid = await cache.read<Date>('invalid date')
    assert.ok(invalid instanceof Date && Number.isNaN(invalid.getTime()))
    for (const top of [new Date(5), new Map([[1, 2]]), new Set([1]), 7n, Buffer.from('hi')]) {
      await cache.write('top', top)
      assert.deepEqual(await cache.read('top'), top)
    }
  })

  test('objects that look like type tags, and __proto__ keys, stay plain data', async () => {
    const cache = cacheOf()
    const tricky = JSON.parse('{"$rf":"D","v":1,"__proto__":{"polluted":true},"x":[{"$rf":"U"}]}')
    await cache.write('tricky', tricky)
    const back = (await cache.read<Record<string, unknown>>('tricky'))!
    assert.deepEqual(back, tricky)
    assert.equal(Object.getPrototypeOf(back), Object.prototype)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  test('values a cache cannot hold are rejected before anything is written', async () => {
    const cache = cacheOf()
    await cache.write('keep', 'original')
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    await assert.rejects(cache.write('keep', undefined), TypeError)
    class Point {
      constructor(readonly x: number) {}
    }
    // Each would come back a plain object ({} for a forgotten await), its class lost.
    const lost = [Promise.resolve(1), new WeakMap(), new Point(1), { at: new Point(2) }, new Int32Array(2)]
    for (const bad of [() => 1, Symbol('s'), cyclic, { nested: () => 1 }, ...lost]) {
      await assert.rejects(cache.write('keep', bad), SerializationError)
    }
    await assert.rejects(cache.write('keep', new Point(3)), /a Point cannot be cached/)
    // A class that says how it is stored is stored so.
    const stored = Object.assign(new Point(4), { toJSON: () => ({ x: 4 }) })
    assert.equal(await cache.write('with-toJSON', stored), true)
    assert.deepEqual(await cache.read('with-toJSON'), { x: 4 })
    await assert.rejects(cache.write('keep', { a: 1 }, { raw: true }), TypeError)
    // A value deeper than the stack, a toJSON that throws.
    let deep: unknown = 'bottom'
    for (let i = 0; i < 20_000; i++) deep = { deep }
    const throwing = {
      toJSON() {
        throw new Error('no')
      },
    }
    // A toJSON answering undefined at the top leaves nothing to write, as a top-level undefined.
    const nothing = { toJSON: () => undefined }
    for (const bad of [deep, { list: [throwing] }, nothing, { toJSON: () => nothing }]) {
      await assert.rejects(cache.write('keep', bad), {
        name: 'SerializationError',
        code: 'ERR_SERIALIZATION',
      })
      await assert.rejects(cache.writeMulti({ keep: bad }), { name: 'SerializationError' })
      await assert.rejects(
        cache.fetch('computed', () => bad),
        { name: 'SerializationError' },
      )
    }
    assert.equal(await cache.exist('computed'), false)
    assert.equal(await cache.read('keep'), 'original')
  })

  test('a value whose getter or Proxy trap throws as it is read is a SerializationError; subclasses are not their base', async () => {
    const cache = cacheOf()
    await cache.write('keep', 'original')
    for (const bad of unreadableValues()) {
      const expected = {
        name: 'SerializationError',
        code: 'ERR_SERIALIZATION',
        message: /reading the value threw/,
      }
      await assert.rejects(cache.write('keep', bad), expected)
      await assert.rejects(cache.writeMulti({ keep: bad }), expected)
      await assert.rejects(
        cache.fetch('computed', () => bad),
        expected,
      )
    }
    // A subclass of a type the cache keeps would come back as its base class: it is any class.
    class MyMap extends Map<number, number> {}
    class MySet extends Set<number> {}
    class Bytes extends Uint8Array {}
    class List extends Array<number> {}
    const myMap = new MyMap()
    myMap.set(1, 2)
    const mySet = new MySet()
    mySet.add(1)
    for (const bad of [myMap, mySet, new Bytes(2), List.from([1]), { nested: [List.from([2])] }]) {
      await assert.rejects(cache.write('keep', bad), {
        name: 'SerializationError',
        message: /cannot be cached/,
      })
    }
    // A Date's subclass says how it is stored (Date's toJSON): as its text.
    class Instant extends Date {
      constructor(ms: number) {
        super(ms)
      }
    }
    await cache.write('instant', new Instant(0))
    assert.equal(await cache.read('instant'), '1970-01-01T00:00:00.000Z')
    assert.equal(await cache.exist('computed'), false)
    assert.equal(await cache.read('keep'), 'original')
  })

  test('a toJSON is told its key as JSON tells it: the property name, the index, or "" at the top', async () => {
    const cache = cacheOf()
    const says = { toJSON: (key: string) => `key=${JSON.stringify(key)}` }
    // A Map makes the value take the careful path, whose walk calls toJSON itself.
    await cache.write('keys', { top: says, list: [says], tagged: new Map() })
    assert.deepEqual(await cache.read('keys'), { top: 'key="top"', list: ['key="0"'], tagged: new Map() })
    await cache.write('plain-top', says)
    assert.equal(await cache.read('plain-top'), 'key=""')
  })

  test('writeMulti takes a Map or a plain object; pairs, a Set or a class instance are a TypeError', async () => {
    const cache = cacheOf()
    class Entries {
      a = 1
    }
    const pairs = [
      ['a', 1],
      ['b', 2],
    ]
    for (const bad of [pairs, new Set(['a']), new Entries()]) {
      await assert.rejects(cache.writeMulti(bad as unknown as Record<string, unknown>), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARGUMENT',
      })
    }
    await assert.rejects(cache.writeMulti(pairs as unknown as Record<string, unknown>), /new Map\(pairs\)/)
    assert.equal(await cache.exist('0'), false)
    assert.equal(await cache.writeMulti(new Map(pairs as [string, number][])), true)
    assert.equal(await cache.writeMulti(Object.assign(Object.create(null), { c: 3 })), true)
    assert.deepEqual(
      await cache.readMulti(['a', 'b', 'c']),
      new Map([
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ]),
    )
  })

  test('a compute that returns undefined stores nothing; a throwing compute stores nothing', async () => {
    const cache = cacheOf()
    assert.equal(await cache.fetch('u', () => undefined), undefined)
    assert.equal(await cache.exist('u'), false)
    await assert.rejects(
      cache.fetch('t', () => {
        throw new Error('boom')
      }),
      /boom/,
    )
    assert.equal(await cache.exist('t'), false)
    assert.equal(await cache.fetch('t', async () => 'later'), 'later')
  })

  test('counters are exact up to 2^53 - 1 either way; a sum past it is refused and the counter kept', async () => {
    const cache = cacheOf()
    const edge = Number.MAX_SAFE_INTEGER
    for (const o of [undefined, { expiresIn: 60_000 }]) {
      for (const sign of [1, -1]) {
        const key = `edge:${sign}:${o ? 'ttl' : 'plain'}`
        assert.equal(await cache.writeCounter(key, sign * (edge - 51)), true)
        assert.equal(await cache.increment(key, sign * 9, o), sign * (edge - 42))
        assert.equal(await cache.decrement(key, -sign * 42, o), sign * edge)
        await assert.rejects(cache.increment(key, sign, o), /not an integer or out of range/)
        assert.equal(await cache.readCounter(key), sign * edge, 'the refused step is not applied')
      }
    }
    // INCRBY takes no leading zero (nor -0); readCounter reads such text as Rails' to_i does.
    for (const text of ['007', '-0']) {
      await cache.write(`text:${text}`, text, { raw: true })
      await assert.rejects(cache.increment(`text:${text}`), /not an integer or out of range/)
      assert.equal(await cache.read(`text:${text}`, { raw: true }), text)
    }
    // Written as text, 1e21 is "1e+21", which a counter reads back as 1.
    for (const value of [1e21, -(2 ** 53), Number.NaN]) {
      await assert.rejects(cache.writeCounter('edge:1:plain', value), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARGUMENT',
      })
    }
    assert.equal(await cache.readCounter('edge:1:plain'), edge)
  })

  test('a refused counter step is never seen: calls made right after it, not awaited, meet the counter as it was', async () => {
    const cache = cacheOf()
    const edge = Number.MAX_SAFE_INTEGER
    await cache.writeCounter('seen', edge)
    const refused = cache.increment('seen', 1).catch((e: unknown) => e)
    const read = cache.readCounter('seen')
    const next = cache.decrement('seen', 5)
    assert.match(String(await refused), /not an integer or out of range/)
    assert.equal(await read, edge)
    assert.equal(await next, edge - 5)
    await cache.writeCounter('gone', edge)
    const refusedToo = cache.increment('gone', 1).catch((e: unknown) => e)
    const deleted = cache.delete('gone')
    assert.match(String(await refusedToo), /not an integer or out of range/)
    assert.equal(await deleted, true)
    assert.equal(
      await cache.readCounter('gone'),
      undefined,
      'the undo of the refused step brought the key back',
    )
  })

  test('a hole in a key or tag list is refused: readMulti, fetchMulti, deleteMulti and tags, on every topology', async () => {
    const cache = cacheOf()
    await cache.write('x', 1)
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    const holed = ['x', , 'y'] as string[]
    await assert.rejects(cache.readMulti(holed), { name: 'TypeError', code: 'ERR_INVALID_KEY' })
    await assert.rejects(
      cache.fetchMulti(holed, {}, () => 2),
      { name: 'TypeError', code: 'ERR_INVALID_KEY' },
    )
    await assert.rejects(cache.deleteMulti(holed), {
      name: 'TypeError',
      code: 'ERR_INVALID_KEY',
      message: /cache\.deleteMulti/,
    })
    assert.equal(await cache.read('x'), 1, 'nothing deleted')
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    const holedTags = ['t', , 'u'] as string[]
    await assert.rejects(cache.write('x', 2, { tags: holedTags }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARGUMENT',
      message: /cache\.write: tags must be an array of non-empty strings/,
    })
    assert.equal(await cache.read('x'), 1, 'nothing written')
  })

  test('a key, version, tag, tenant or raw value with a lone surrogate is refused (Redis would store U+FFFD)', async () => {
    const cache = cacheOf()
    assert.equal(await cache.write('\uFFFD', 'kept'), true)
    const lone = '\uD800'
    await assert.rejects(cache.write(lone, 1), { name: 'TypeError', code: 'ERR_INVALID_KEY' })
    await assert.rejects(cache.read(['a', `b${lone}`]), { name: 'TypeError', code: 'ERR_INVALID_KEY' })
    await assert.rejects(cache.write('k', 1, { version: lone }), { code: 'ERR_INVALID_ARGUMENT' })
    await assert.rejects(cache.write('k', 1, { tags: [lone] }), { code: 'ERR_INVALID_ARGUMENT' })
    await assert.rejects(cache.write('k', `a${lone}`, { raw: true }), { code: 'ERR_INVALID_ARGUMENT' })
    await assert.rejects(cacheOf({ tenant: () => lone }).read('k'), { code: 'ERR_INVALID_ARGUMENT' })
    // The calls that name a tag, a version or a glob: as Redis would keep U+FFFD, they would
    // reach the entries of '\uFFFD' (a tag invalidated, keys deleted) or never hit.
    assert.equal(await cache.write('tagged', 'kept', { tags: ['\uFFFD'] }), true)
    await assert.rejects(cache.invalidateTag(lone), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
    await assert.rejects(cache.deleteMatched(`${lone}*`), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
    const versioned = { cacheKey: () => 'v', cacheVersion: lone }
    for (const call of [
      () => cache.read('k', { version: lone }),
      () => cache.exist('k', { version: lone }),
      () => cache.readMulti(['k'], { version: lone }),
      () => cache.fetch('k', { version: lone }, () => 1),
      () => cache.read(versioned),
      () => cache.readMulti([versioned]),
      () => cache.write(versioned, 1),
      () => cache.writeMulti(new Map([[versioned, 1]])),
    ]) {
      await assert.rejects(call(), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
    }
    assert.equal(await cache.read('tagged'), 'kept')
    assert.throws(() => fleet.cache({ namespace: lone }), { code: 'ERR_INVALID_OPTION' })
    assert.equal(await cache.exist('k'), false)
    assert.equal(await cache.read('\uFFFD'), 'kept')
    // Inside a JSON value it is escaped, and comes back as it was.
    assert.equal(await cache.write('k', `a${lone}`), true)
    assert.equal(await cache.read('k'), `a${lone}`)
  })

  test('a call option left undefined is no option: expiresIn: undefined keeps the default, only null overrides it', async () => {
    const ns = uniqueKey('ns')
    const cache = cacheOf({ namespace: ns, expiresIn: 60_000 })
    const expiresIn = undefined
    await cache.write('w', 1, { expiresIn })
    await cache.fetch('f', { expiresIn }, () => 1)
    await cache.writeMulti({ m: 1 }, { expiresIn })
    await cache.increment('i', 1, { expiresIn })
    await cache.write('never', 1, { expiresIn: null })
    for (const key of ['w', 'f', 'm', 'i']) {
      const ttl = await raw.pttl(`${env.namespace}:cache:${ns}:${key}`)
      assert.ok(ttl > 0 && ttl <= 60_000, `${key}: ${ttl}`)
    }
    assert.equal(await raw.pttl(`${env.namespace}:cache:${ns}:never`), -1)
  })

  test('a past expiresAt and bad options are TypeErrors', async () => {
    const cache = cacheOf()
    await assert.rejects(cache.write('k', 1, { expiresAt: Date.now() - 1000 }), /expiresAt is in the past/)
    // fetch and fetchMulti too, as Rails' fetch validates its options; the compute never runs.
    const never = () => assert.fail('computed for a past expiresAt')
    for (const force of [false, true]) {
      await assert.rejects(cache.fetch('k', { expiresAt: Date.now() - 1000, force }, never), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARGUMENT',
        message: /cache\.fetch: .*expiresAt is in the past/,
      })
    }
    await assert.rejects(cache.fetchMulti(['k'], { expiresAt: Date.now() - 1000 }, never), {
      name: 'TypeError',
      message: /cache\.fetchMulti: .*expiresAt is in the past/,
    })
    await assert.rejects(cache.write('k', 1, { expiresAt: 'tomorrow' as unknown as number }), TypeError)
    await assert.rejects(cache.write('k', 1, { tags: ['ok', ''] }), /tags must be an array/)
    await assert.rejects(cache.increment('k', 1.5), /by must be an integer/)
    // Redis refuses such a PX and memory wrote an entry it could not read back (Infinity).
    for (const expiresIn of [Number.POSITIVE_INFINITY, 1e20]) {
      await assert.rejects(cache.write('k', 1, { expiresIn }), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARGUMENT',
      })
      await assert.rejects(cache.increment('n', 1, { expiresIn }), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARGUMENT',
      })
      await assert.rejects(
        cache.fetch('k', { expiresIn, raceConditionTtl: 1e20 }, () => 1),
        TypeError,
      )
    }
    await assert.rejects(
      cache.write('k', 1, { expiresAt: 1e20 }),
      /expiresAt must be a Date or epoch milliseconds/,
    )
    assert.throws(() => fleet.cache({ expiresIn: Number.POSITIVE_INFINITY }), /expiresIn/)
    assert.equal(await cache.write('k', 1, { expiresIn: Number.MAX_SAFE_INTEGER }), true)
    assert.equal(await cache.read('k'), 1)
    await assert.rejects(cache.readMulti('k' as unknown as string[]), /keys must be an array/)
    assert.throws(() => fleet.cache({ lockTimeout: -1 }), /lockTimeout/)
    assert.throws(() => fleet.cache({ namespace: 'a{b}' }), /namespace/)
    assert.throws(() => fleet.cache({ near: { max: 0 } }), /near/)
    assert.throws(() => fleet.cache({ expiresIn: -5 }), /expiresIn/)
  })

  test('invalidateTag makes every entry with the tag a miss, in every instance, and nothing else', async () => {
    const namespace = uniqueKey('ns')
    const a = cacheOf({ namespace })
    const b = cacheOf({ namespace }, await env.fleet())
    await a.write('p1', 'one', { tags: ['products'] })
    await a.write('p2', 'two', { tags: ['products', 'featured'] })
    await a.write('other', 'three', { tags: ['users'] })
    await a.write('untagged', 'four')
    assert.equal(await b.read('p1'), 'one')
    await b.invalidateTag('products')
    for (const cache of [a, b]) {
      assert.equal(await cache.read('p1'), undefined)
      assert.equal(await cache.read('p2'), undefined)
      assert.equal(await cache.exist('p2'), false)
      assert.equal(await cache.read('other'), 'three')
      assert.equal(await cache.read('untagged'), 'four')
    }
    assert.deepEqual(
      await a.readMulti(['p1', 'p2', 'other', 'untagged']),
      new Map([
        ['other', 'three'],
        ['untagged', 'four'],
      ]),
    )
    // Written after the invalidation: live again.
    await a.write('p1', 'one again', { tags: ['products'] })
    assert.equal(await b.read('p1'), 'one again')
    assert.equal(await b.fetch('p2', { tags: ['products'] }, () => 'recomputed'), 'recomputed')
    assert.equal(await a.read('p2'), 'recomputed')
    await a.invalidateTag('featured')
    assert.equal(await a.read('p1'), 'one again')
  })

  test("a tag's version lost with its node leaves no entry of the tag current, and the tag works on", async () => {
    const namespace = uniqueKey('ns')
    const cache = cacheOf({ namespace })
    await cache.write('before', 'old', { tags: ['T'] })
    await cache.invalidateTag('T')
    await cache.write('after', 'new', { tags: ['T'] })
    assert.equal(await cache.read('before'), undefined)
    assert.equal(await cache.read('after'), 'new')
    // All a node restarted empty (or a replica that had not copied it) holds of the tag: nothing.
    // A version counted from 0 again made the entries invalidated before current again (helper-294).
    await raw.delete(`${env.namespace}:cache~tag:${namespace}:T`)
    assert.equal(await cache.read('before'), undefined, 'invalidated before the loss')
    assert.equal(await cache.read('after'), undefined, 'written under the version lost')
    assert.deepEqual(await cache.readMulti(['before', 'after']), new Map())
    assert.equal(await cache.exist('before'), false)
    // The next tagged write gives the tag a version of its own: live, and invalidated as any.
    await cache.write('again', 'v', { tags: ['T'] })
    assert.equal(await cache.read('again'), 'v')
    assert.equal(await cache.fetch('fetched', { tags: ['T'] }, () => 'f'), 'f')
    assert.equal(await cache.read('fetched'), 'f')
    assert.equal(await cache.read('before'), undefined)
    await cache.invalidateTag('T')
    assert.equal(await cache.read('again'), undefined)
    assert.equal(await cache.read('fetched'), undefined)
  })

  test('raw: true with tags is refused, nothing written; a raw entry carries no version (as Rails)', async () => {
    const cache = cacheOf({ namespace: uniqueKey('ns') })
    await cache.write('kept', 'before', { raw: true })
    for (const call of [
      () => cache.write('kept', 'after', { raw: true, tags: ['t'] }),
      () => cache.writeMulti({ kept: 'after' }, { raw: true, tags: ['t'] }),
      () => cache.fetch('kept', { raw: true, tags: ['t'], force: true }, () => 'after'),
      () => cache.fetchMulti(['kept'], { raw: true, tags: ['t'], force: true }, () => 'after'),
      // A compute may set either: the pair is checked again as the value is written.
      () =>
        cache.fetch('kept', { tags: ['t'], force: true }, (_name, o) => {
          o.raw = true
          return 'after'
        }),
      () =>
        cache.fetch('kept', { raw: true, force: true }, (_name, o) => {
          o.tags = ['t']
          return 'after'
        }),
    ]) {
      await assert.rejects(call(), {
        code: 'ERR_INVALID_ARGUMENT',
        message: /tags cannot be used with raw: true/,
      })
    }
    assert.equal(await cache.read('kept', { raw: true }), 'before')
    // No envelope, so no version: a read of any version matches it.
    await cache.write('versioned', 'x', { raw: true, version: 2 })
    assert.equal(await cache.read('versioned', { raw: true, version: 3 }), 'x')
  })

  test('tags on writeMulti and fetchMulti; tags set by a fetch compute', async () => {
    const cache = cacheOf()
    await cache.writeMulti({ a: 1, b: 2 }, { tags: ['t'] })
    await cache.fetchMulti(['c', 'd'], { tags: ['t'] }, (k) => String(k))
    await cache.fetch('e', (_k, o) => {
      o.tags = ['t']
      return 'e'
    })
    assert.equal((await cache.readMulti(['a', 'b', 'c', 'd', 'e'])).size, 5)
    await cache.invalidateTag('t')
    assert.equal((await cache.readMulti(['a', 'b', 'c', 'd', 'e'])).size, 0)
  })

  test('an entry its tag invalidated is no value to unlessExist: write, writeMulti and fetch replace it', async () => {
    const cache = cacheOf()
    await cache.writeMulti({ a: 'old', b: 'old', c: 'old' }, { tags: ['t'] })
    await cache.write('live', 'kept', { tags: ['u'] })
    await cache.invalidateTag('t')
    assert.equal(await cache.exist('a'), false)
    assert.equal(await cache.write('a', 'new', { unlessExist: true }), true)
    await cache.writeMulti({ b: 'new' }, { unlessExist: true })
    assert.equal(await cache.fetch('c', { unlessExist: true }, () => 'new'), 'new')
    assert.deepEqual(Object.fromEntries(await cache.readMulti(['a', 'b', 'c'])), {
      a: 'new',
      b: 'new',
      c: 'new',
    })
    // An entry whose tags are current is a value, as before.
    assert.equal(await cache.write('live', 'other', { unlessExist: true }), false)
    assert.equal(await cache.read('live'), 'kept')
  })

  test('a tag invalidated while a fetch computes makes what it computed a miss', async () => {
    const cache = cacheOf()
    const value = await cache.fetch('racy', { tags: ['t'] }, async () => {
      await cache.invalidateTag('t')
      return 'computed from old data'
    })
    assert.equal(value, 'computed from old data')
    assert.equal(await cache.read('racy'), undefined)
  })

  test('modelVersion is part of every key: bumping it hides all older entries', async () => {
    const namespace = uniqueKey('ns')
    const v1 = cacheOf({ namespace, modelVersion: 1 })
    const v2 = cacheOf({ namespace, modelVersion: 2 })
    await v1.write('user:1', 'old shape')
    assert.equal(await v2.read('user:1'), undefined)
    assert.equal(await v2.fetch('user:1', () => 'new shape'), 'new shape')
    assert.equal(await v1.read('user:1'), 'old shape')
    await v2.clear()
    assert.equal(await v1.read('user:1'), undefined, 'clear removes every model version of the namespace')
  })

  test('tenants never see each other; a call with no tenant throws; clear and tags are per tenant', async () => {
    const namespace = uniqueKey('ns')
    let current: string | undefined = 'acme'
    const cache = cacheOf({ namespace, tenant: () => current })
    await cache.write('settings', 'acme settings', { tags: ['cfg'] })
    current = 'globex:with{odd}chars'
    assert.equal(await cache.read('settings'), undefined)
    await cache.write('settings', 'globex settings', { tags: ['cfg'] })
    await cache.invalidateTag('cfg')
    assert.equal(await cache.read('settings'), undefined)
    current = 'acme'
    assert.equal(await cache.read('settings'), 'acme settings', "another tenant's tag is not ours")
    current = undefined
    await assert.rejects(cache.read('settings'), /tenant\(\) returned no tenant/)
    await assert.rejects(cache.clear(), /tenant/)
    current = 'globex:with{odd}chars'
    await cache.write('x', 1)
    await cache.clear()
    current = 'acme'
    assert.equal(
      await cache.read('settings'),
      'acme settings',
      "clear wipes only the current tenant's entries",
    )
  })

  test("no key or tag of a cache reaches another scope's entries: a tenant's, a model version's", async () => {
    const namespace = uniqueKey('ns')
    const plain = cacheOf({ namespace })
    const acme = cacheOf({ namespace, tenant: () => 'acme' })
    const v2 = cacheOf({ namespace, modelVersion: 2 })
    const acmeV2 = cacheOf({ namespace, tenant: () => 'acme', modelVersion: 2 })
    await acme.write('secret', 'acme only', { tags: ['t'] })
    await v2.write('user', 'v2 shape')
    await acmeV2.write('user', 'acme v2 shape')
    // Names that spell another scope's place are names of their own.
    assert.equal(await plain.read('@acme:secret'), undefined)
    assert.equal(await plain.read('v2:user'), undefined)
    assert.equal(await acme.read('v2:user'), undefined)
    for (const name of ['@acme:secret', 'v2:user', '~x', '~~x', 'x']) await plain.write(name, `plain ${name}`)
    await acme.write('v2:user', 'acme plain')
    await plain.invalidateTag('@acme:t')
    assert.equal(await acme.read('secret'), 'acme only', "a plain cache's tag is not the tenant's")
    assert.equal(await v2.read('user'), 'v2 shape')
    assert.equal(await acmeV2.read('user'), 'acme v2 shape')
    for (const name of ['@acme:secret', 'v2:user', '~x', '~~x', 'x']) {
      assert.equal(await plain.read(name), `plain ${name}`, name)
    }
    assert.deepEqual(
      [...(await plain.readMulti(['@acme:secret', '~x', 'x'])).values()],
      ['plain @acme:secret', 'plain ~x', 'plain x'],
    )
    assert.equal(await acme.read('v2:user'), 'acme plain')
    // A plain cache's deleteMatched and clear leave the tenants' and model versions' entries.
    assert.equal(await plain.deleteMatched('*'), 5)
    assert.equal(await plain.read('@acme:secret'), undefined)
    assert.equal(await acme.read('secret'), 'acme only')
    assert.equal(await v2.read('user'), 'v2 shape')
    await plain.write('x', 1)
    await plain.clear()
    assert.equal(await plain.read('x'), undefined)
    assert.equal(await acme.read('secret'), 'acme only', "a plain cache's clear leaves the tenants' entries")
  })

  test("no cache namespace spells a tenant's or model version's place in another namespace", async () => {
    const namespace = uniqueKey('ns')
    const acme = cacheOf({ namespace, tenant: () => 'acme' })
    const v2 = cacheOf({ namespace, modelVersion: 2 })
    await acme.write('invoice', 'acme only')
    await v2.write('user', 'v2 shape')
    for (const part of ['@acme', 'v2']) {
      const other = cacheOf({ namespace: `${namespace}:${part}` })
      assert.equal(await other.read('invoice'), undefined, part)
      assert.equal(await other.read('user'), undefined, part)
      await other.write('invoice', 'other')
      await other.write('user', 'other')
      await other.clear()
    }
    assert.equal(await acme.read('invoice'), 'acme only')
    assert.equal(await v2.read('user'), 'v2 shape')
    const nested = cacheOf({ namespace: `${namespace}:~x:@y:v3:plain` })
    await nested.write('k', 1)
    assert.equal(await nested.read('k'), 1, 'a namespace with such parts is still a namespace of its own')
  })

  test('withNamespace views and cache namespaces are isolated', async () => {
    const a = fleet.withNamespace('va').cache({ errorHandler: raise })
    const b = fleet.withNamespace('vb').cache({ errorHandler: raise })
    await a.write('same', 'a')
    await b.write('same', 'b')
    assert.equal(await a.read('same'), 'a')
    assert.equal(await b.read('same'), 'b')
    await a.clear()
    assert.equal(await b.read('same'), 'b')
  })

  test('50 concurrent fetches of one cold key in one process run the compute once, and Node warns of no leak', async () => {
    const cache = cacheOf()
    const warned: string[] = []
    const onWarning = (warning: Error) => warned.push(warning.name)
    process.on('warning', onWarning)
    let runs = 0
    const values = await Promise.all(
      Array.from({ length: 50 }, () =>
        cache.fetch('cold', async () => {
          runs++
          // Still computing while the other 49 calls miss and join it.
          await nextTurn()
          return { computed: runs }
        }),
      ),
    )
    assert.equal(runs, 1)
    assert.ok(values.every((v) => v.computed === 1))
    // Each caller has a copy of its own, as every read hands out (a change by one is not another's).
    assert.equal(new Set(values).size, 50)
    assert.equal(cache.stats().fills, 1)
    // Each joiner listens for the close while it waits: 49 listeners, which Node took for a leak.
    await new Promise((resolve) => setImmediate(resolve))
    process.off('warning', onWarning)
    assert.deepEqual(
      warned.filter((name) => name === 'MaxListenersExceededWarning'),
      [],
    )
  })

  test('the fill lock: fleets racing on one cold key compute once; the others wait and read it', async () => {
    const namespace = uniqueKey('ns')
    const fleets = [fleet, await env.fleet(), await env.fleet(), await env.fleet()]
    const caches = fleets.map((f) => cacheOf({ namespace }, f))
    let runs = 0
    const values = await Promise.all(
      caches.flatMap((cache) =>
        Array.from({ length: 10 }, () =>
          cache.fetch('cold', async () => {
            runs++
            await nextTurn()
            return 'the one value'
          }),
        ),
      ),
    )
    // Whoever comes late finds the value, by its first read or by the re-read after the lock.
    assert.equal(runs, 1)
    assert.ok(values.every((v) => v === 'the one value'))
  })

  test('lockTimeout: 0 disables the fill lock (each fleet computes)', async () => {
    const namespace = uniqueKey('ns')
    const caches = [
      cacheOf({ namespace, lockTimeout: 0 }),
      cacheOf({ namespace, lockTimeout: 0 }, await env.fleet()),
    ]
    let runs = 0
    let bothRunning!: () => void
    const barrier = new Promise<void>((resolve) => (bothRunning = resolve))
    const giveUp = new AbortController()
    await Promise.all(
      caches.map((cache) =>
        cache.fetch('cold', async () => {
          if (++runs === 2) bothRunning()
          // No compute ends before both have started (a second fleet still connecting would
          // otherwise find the first one's value); with a fill lock the second never starts
          // and this gives up after 2 s, so the assertion below fails rather than hangs.
          await Promise.race([barrier, sleep(2000, undefined, { signal: giveUp.signal })])
          return 1
        }),
      ),
    )
    giveUp.abort()
    assert.equal(runs, 2)
  })

  test('a fill holder slower than lockTimeout: waiters give up waiting and compute themselves', async () => {
    const namespace = uniqueKey('ns')
    const lockTimeout = 100
    const slow = cacheOf({ namespace, lockTimeout })
    const waiter = cacheOf({ namespace, lockTimeout }, await env.fleet())
    let runs = 0
    let holding!: () => void
    const held = new Promise<void>((resolve) => (holding = resolve))
    let finish!: () => void
    const finished = new Promise<void>((resolve) => (finish = resolve))
    const first = slow.fetch('k', async () => {
      runs++
      holding() // the fill lock is taken before the compute starts
      await finished // and held until the waiter is done
      return 'slow'
    })
    await held
    // The holder only finishes after the waiter: a waiter that did not give up would never end,
    // so the bound (far above lockTimeout) turns that into a failure instead of a hang.
    const second = await Promise.race([
      waiter.fetch('k', async () => {
        runs++
        return 'fast'
      }),
      sleep(lockTimeout * 100, 'waited for the holder', { ref: false }),
    ])
    assert.equal(second, 'fast')
    finish()
    assert.equal(await first, 'slow')
    assert.equal(runs, 2)
  })

  test('raceConditionTtl with the fill lock: while one fleet regenerates, another serves the stale value', async () => {
    const namespace = uniqueKey('ns')
    const clock = testClock()
    const a = cacheWithClock(fleet, clock, { namespace, errorHandler: raise })
    const b = cacheWithClock(await env.fleet(), clock, { namespace, errorHandler: raise })
    // Written with raceConditionTtl, so Redis keeps it 5 minutes past its expiry (Rails' padding).
    await a.write('k', 'stale', { expiresIn: 50, raceConditionTtl: 10_000 })
    clock.advance(60)
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let regenerate!: () => void
    const regenerateStarted = new Promise<void>((resolve) => (regenerate = resolve))
    const regenerating = a.fetch('k', { raceConditionTtl: 10_000, expiresIn: 60_000 }, async () => {
      regenerate() // a holds the fill lock and has re-stored the stale value by now
      await gate
      return 'fresh'
    })
    await regenerateStarted
    let bComputed = false
    const fromB = await b.fetch('k', { raceConditionTtl: 10_000 }, () => {
      bComputed = true
      return 'b value'
    })
    assert.equal(fromB, 'stale')
    assert.equal(bComputed, false)
    release()
    assert.equal(await regenerating, 'fresh')
    assert.equal(await b.read('k'), 'fresh')
  })

  // A short key, a key shortened with a hash for length, and a tenant cache (whose near cache is
  // keyed by full keys rather than names): each must be evicted by writes from anywhere.
  // The last case is truncated to exactly as many characters as it had (100 ASCII characters
  // kept, 38 three-byte ones replaced by the 38-character hash suffix).
  const sameLength = 'a'.repeat(100) + '€'.repeat(38)
  // Invalidations from another connection arrive when they arrive: these polls wait for them,
  // with a bound far above any healthy delay (a loaded machine must not fail them).
  const INVALIDATION_BOUND = 15_000
  const nearCases = [
    { name: 'a short key', k: 'k', tenant: undefined, maxKeySize: () => 1024 },
    { name: 'a key truncated for length', k: 'long/'.repeat(400), tenant: undefined, maxKeySize: () => 1024 },
    { name: 'a tenant cache', k: 'k', tenant: () => 'acme', maxKeySize: () => 1024 },
    {
      name: 'a key truncated to its own length',
      k: sameLength,
      tenant: undefined,
      maxKeySize: (prefix: string) => Buffer.byteLength(prefix) + 100 + 38,
    },
  ]
  for (const { name, k, tenant, maxKeySize } of nearCases) {
    test(`near cache (${name}): hits stay in process; any write through any fleet evicts it; own writes at once`, async () => {
      const namespace = uniqueKey('ns')
      const max = maxKeySize(`${fleet.namespace}:cache:${namespace}:`)
      const a = cacheOf({ namespace, near: { max: 100 }, tenant, maxKeySize: max })
      const b = cacheOf({ namespace, near: { max: 100 }, tenant, maxKeySize: max }, await env.fleet())
      await a.write(k, { v: 1 })
      const nearHit = async () => {
        const deadline = Date.now() + INVALIDATION_BOUND
        for (;;) {
          const before = a.stats().nearHits
          const value = await a.read(k)
          if (a.stats().nearHits > before) return value
          assert.ok(Date.now() < deadline, 'the near cache came online')
          await sleep(5)
        }
      }
      assert.deepEqual(await nearHit(), { v: 1 })
      const first = (await a.read<{ v: number }>(k))!
      first.v = 99
      assert.deepEqual(await a.read(k), { v: 1 }, 'each hit is a fresh copy')
      await a.write(k, { v: 2 })
      assert.deepEqual(await a.read(k), { v: 2 }, 'own write evicts before it resolves')
      await nearHit()
      await b.write(k, { v: 3 })
      const deadline = Date.now() + INVALIDATION_BOUND
      while (((await a.read<{ v: number }>(k)) ?? { v: 0 }).v !== 3) {
        assert.ok(Date.now() < deadline, "another fleet's write evicted it")
        await sleep(1)
      }
      await nearHit()
      await b.delete(k)
      while ((await a.read(k)) !== undefined) {
        assert.ok(Date.now() < deadline + INVALIDATION_BOUND, "another fleet's delete evicted it")
        await sleep(1)
      }
      await a.fetch('f', () => 'computed')
      await a.read('f')
      assert.equal(await a.read('f'), 'computed')
      assert.ok(a.stats().nearHits > 0)
    })
  }
  test('near cache: a short key spelled as the key a long one was shortened to is not a near hit of it', async () => {
    const namespace = uniqueKey('ns')
    const prefix = `${fleet.namespace}:cache:${namespace}:`
    const max = Buffer.byteLength(prefix) + 100
    const a = cacheOf({ namespace, near: { max: 100 }, maxKeySize: max })
    const long = 'x'.repeat(200)
    await a.write(long, 'long')
    const deadline = Date.now() + INVALIDATION_BOUND
    for (;;) {
      const before = a.stats().nearHits
      assert.equal(await a.read(long), 'long')
      if (a.stats().nearHits > before) break
      assert.ok(Date.now() < deadline, 'the near cache came online')
      await sleep(5)
    }
    const full = prefix + long
    const lookalike = `${long.slice(0, 100 - 38)}:hash:${createHash('sha256').update(full).digest('hex').slice(0, 32)}`
    assert.equal(await a.read(lookalike), undefined)
    await a.write(lookalike, 'short')
    assert.equal(await a.read(long), 'long')
  })
  test("near cache: a short key that ends as a shortened key does is evicted by another fleet's write", async () => {
    const namespace = uniqueKey('ns')
    const a = cacheOf({ namespace, near: { max: 100 } })
    const b = cacheOf({ namespace, near: { max: 100 } }, await env.fleet())
    const key = `k:hash:${'0'.repeat(32)}`
    await a.write(key, 1)
    const deadline = Date.now() + INVALIDATION_BOUND
    for (;;) {
      const before = a.stats().nearHits
      assert.equal(await a.read(key), 1)
      if (a.stats().nearHits > before) break
      assert.ok(Date.now() < deadline, 'the near cache came online')
      await sleep(5)
    }
    await b.write(key, 2)
    while ((await a.read(key)) !== 2) {
      assert.ok(Date.now() < deadline + INVALIDATION_BOUND, "another fleet's write evicted it")
      await sleep(1)
    }
  })
  test('near cache: an entry it holds that expired or is of another version is a miss, not a near hit', async () => {
    const namespace = uniqueKey('ns')
    const clock = testClock()
    const cache = cacheWithClock(fleet, clock, { namespace, near: { max: 100 }, errorHandler: raise })
    await cache.write('k', 'v', { expiresIn: 60_000, version: '1' })
    const nearHit = async (read: () => Promise<unknown>) => {
      const deadline = Date.now() + INVALIDATION_BOUND
      for (;;) {
        const before = cache.stats().nearHits
        const value = await read()
        if (cache.stats().nearHits > before) return value
        assert.ok(Date.now() < deadline, 'the near cache came online')
        await sleep(5)
      }
    }
    assert.equal(await nearHit(() => cache.read('k', { version: '1' })), 'v')
    const misses = () => [cache.stats().nearHits, cache.stats().misses]
    let [nearHits, missed] = misses()
    assert.equal(await cache.read('k', { version: '2' }), undefined)
    assert.deepEqual((await cache.readMulti(['k'], { version: '2' })).size, 0)
    assert.deepEqual(misses(), [nearHits, missed! + 2], 'another version: two misses, no near hit')
    // exist counts no hit, so no near hit either: nearHits stays a part of hits.
    assert.equal(await cache.exist('k', { version: '1' }), true)
    assert.deepEqual(misses(), [nearHits, missed! + 2], 'exist: neither a hit nor a near hit')
    clock.advance(60_001)
    ;[nearHits, missed] = misses()
    assert.equal(await cache.read('k'), undefined)
    assert.equal(await cache.fetch('k', () => 'again'), 'again')
    assert.deepEqual(misses(), [nearHits, missed! + 2], 'expired: two misses, no near hit')
  })
  test('near cache: an entry whose Redis TTL another client set is not served past that TTL', async () => {
    const namespace = uniqueKey('ns')
    const cache = cacheOf({ namespace, near: { max: 100 } })
    const full = (key: string) => `${env.namespace}:cache:${namespace}:${key}`
    const ttl = 300
    // Entries the cache wrote without an expiry, given a TTL by another client (SET … PX):
    // Redis tells a near cache of an expiry only once it deletes the key, lazily.
    await cache.write('one', { v: 1 })
    await cache.writeMulti({ many1: { v: 1 }, many2: { v: 2 } })
    // And a tag's version key: once it is gone, the entry written under version 1 is a miss.
    await cache.invalidateTag('T')
    await cache.write('tagged', { v: 1 }, { tags: ['T'] })
    const keys = ['one', 'many1', 'many2'].map(full)
    const tag = `${env.namespace}:cache~tag:${namespace}:T`
    const stored = await Promise.all([...keys, tag].map((key) => raw.get(key)))
    await Promise.all([...keys, tag].map((key, i) => raw.set(key, stored[i]!.toString(), ttl)))
    // Every TTL runs from when Redis ran its SET, which is before this (under load the SETs can
    // reach Redis tens of ms apart: timed from before them, a later key was still there).
    const set = performance.now()
    const deadline = Date.now() + INVALIDATION_BOUND
    for (;;) {
      const before = cache.stats().nearHits
      assert.deepEqual(await cache.read('one'), { v: 1 })
      assert.equal((await cache.readMulti(['many1', 'many2'])).size, 2)
      assert.deepEqual(await cache.read('tagged'), { v: 1 })
      if (cache.stats().nearHits - before === 4) break
      assert.ok(Date.now() < deadline, 'the near cache came online')
      await sleep(5)
    }
    // Past the TTL, with nothing read from Redis meanwhile (a read there deletes the key).
    await sleep(Math.max(0, set + ttl + 20 - performance.now()))
    assert.equal(await cache.read('one'), undefined)
    assert.equal((await cache.readMulti(['many1', 'many2'])).size, 0)
    assert.equal(await cache.read('tagged'), undefined, "the tag's version is gone with its key")
  })
  test('TracingChannel redfleet:cache:<method>: one trace per call with key(s), hit(s), namespace', async () => {
    const namespace = uniqueKey('ns')
    const cache = cacheOf({ namespace })
    const events: CacheEvent[] = []
    const results: unknown[] = []
    const names = ['read', 'write', 'fetch', 'readMulti', 'delete']
    const handlers = {
      start() {},
      end() {},
      asyncStart() {},
      asyncEnd: (message: unknown) => {
        const { result, ...context } = message as CacheEvent & { result?: unknown }
        events.push(context)
        results.push(result)
      },
      error() {},
    }
    for (const name of names) diagnosticsChannel.tracingChannel(`redfleet:cache:${name}`).subscribe(handlers)
    const returned: unknown[] = []
    try {
      returned.push(await cache.write('a', 1))
      returned.push(await cache.read('a'))
      returned.push(await cache.read('missing'))
      returned.push(await cache.fetch('b', () => 2))
      returned.push(await cache.readMulti(['a', 'b', 'c']))
      returned.push(await cache.delete('a'))
    } finally {
      for (const name of names)
        diagnosticsChannel.tracingChannel(`redfleet:cache:${name}`).unsubscribe(handlers)
    }
    const ns = `${env.namespace}:cache:${namespace}`
    const topology = env.topology
    assert.deepEqual(events, [
      { method: 'write', namespace: ns, topology, key: 'a' },
      { method: 'read', namespace: ns, topology, key: 'a', hit: true, near: false },
      { method: 'read', namespace: ns, topology, key: 'missing', hit: false, near: false },
      { method: 'fetch', namespace: ns, topology, key: 'b', hit: false, near: false },
      { method: 'readMulti', namespace: ns, topology, keys: ['a', 'b', 'c'], hits: ['a', 'b'], nearHits: 0 },
      { method: 'delete', namespace: ns, topology, key: 'a' },
    ])
    // SPEC §11: the result on asyncEnd is what the call resolved with.
    assert.deepEqual(results, returned)
  })

  test('TracingChannel redfleet:cache:<method>: a call that fails is traced with its key(s) too', async () => {
    const cache = cacheOf()
    const failed: { method?: string; key?: string; keys?: string[]; typeError: boolean }[] = []
    const names = ['write', 'fetch', 'increment', 'writeMulti', 'fetchMulti']
    const handlers = {
      start() {},
      end() {},
      asyncStart() {},
      asyncEnd: (message: unknown) => {
        const { method, key, keys, error } = message as CacheEvent & { error?: unknown }
        failed.push({ method, key, keys, typeError: error instanceof TypeError })
      },
      error() {},
    }
    for (const name of names) diagnosticsChannel.tracingChannel(`redfleet:cache:${name}`).subscribe(handlers)
    const broken = () => {
      throw new Error('compute failed')
    }
    try {
      await assert.rejects(cache.write(['w', 1], undefined), TypeError)
      await assert.rejects(cache.fetch({ b: 2, a: 1 }, broken), /compute failed/)
      await assert.rejects(cache.increment('n', 'x' as unknown as number), TypeError)
      await assert.rejects(cache.writeMulti({ m1: 1, m2: undefined }), TypeError)
      await assert.rejects(cache.fetchMulti(['f1', 'f2'], {}, broken), /compute failed/)
    } finally {
      for (const name of names)
        diagnosticsChannel.tracingChannel(`redfleet:cache:${name}`).unsubscribe(handlers)
    }
    assert.deepEqual(failed, [
      { method: 'write', key: 'w/1', keys: undefined, typeError: true },
      { method: 'fetch', key: 'a=1/b=2', keys: undefined, typeError: false },
      { method: 'increment', key: 'n', keys: undefined, typeError: true },
      { method: 'writeMulti', key: undefined, keys: ['m1', 'm2'], typeError: true },
      { method: 'fetchMulti', key: undefined, keys: ['f1', 'f2'], typeError: false },
    ])
  })

  test('stats count hits, misses, writes, deletes and fills', async () => {
    const cache = cacheOf()
    await cache.write('a', 1)
    await cache.read('a')
    await cache.read('nope')
    await cache.fetch('b', () => 2)
    await cache.readMulti(['a', 'b', 'c'])
    await cache.delete('a')
    await cache.deleteMulti(['b', 'c'])
    assert.deepEqual(cache.stats(), {
      hits: 3,
      misses: 3,
      writes: 2,
      deletes: 2,
      nearHits: 0,
      errors: 0,
      fills: 1,
    })
  })

  test('after close every method rejects with ClosedError, and a waiting fetch ends', async () => {
    const own = await env.fleet()
    const other = await env.fleet()
    const namespace = uniqueKey('ns')
    const holder = cacheOf({ namespace }, other)
    const cache = cacheOf({ namespace }, own)
    let computing!: () => void
    const started = new Promise<void>((resolve) => (computing = resolve))
    let finish!: () => void
    const finished = new Promise<void>((resolve) => (finish = resolve))
    const holding = holder.fetch('held', async () => {
      computing() // the holder owns the fill lock from here on
      await finished
      return 'v'
    })
    await started
    const waiting = assert.rejects(
      cache.fetch('held', () => 'mine'),
      ClosedError,
    )
    // Closing before or after the waiter reaches the lock must both end it with ClosedError
    // (the unit tests of fillWithLock close a waiter that is certainly waiting).
    await nextTurn()
    await own.close()
    await waiting
    await assert.rejects(cache.read('a'), ClosedError)
    await assert.rejects(cache.write('a', 1), ClosedError)
    await assert.rejects(
      cache.fetch('a', () => 1),
      ClosedError,
    )
    await assert.rejects(cache.readMulti(['a']), ClosedError)
    // With nothing to send too (none would reach Redis): the fleet refuses every call.
    await assert.rejects(cache.readMulti([]), {
      name: 'ClosedError',
      message: 'cache.readMulti: the fleet is closed',
    })
    await assert.rejects(
      cache.fetchMulti([], {}, () => 1),
      ClosedError,
    )
    await assert.rejects(cache.writeMulti({}), ClosedError)
    await assert.rejects(cache.deleteMulti([]), ClosedError)
    await assert.rejects(cache.increment('a'), ClosedError)
    await assert.rejects(cache.clear(), ClosedError)
    finish()
    assert.equal(await holding, 'v')
  })

  test("close ends a fetch that joined this process's fill of the key, whose compute never settles", async () => {
    const own = await env.fleet()
    const cache = cacheOf({ namespace: uniqueKey('ns') }, own)
    const computing = opening()
    const first = cache.fetch('hung', async () => {
      computing.open()
      await new Promise(() => {})
    })
    first.catch(() => {})
    await computing.opened
    const joined = assert.rejects(
      cache.fetch('hung', () => 'mine'),
      (error) => {
        assert.ok(error instanceof ClosedError, String(error))
        assert.equal(error.message, "cache.fetch 'hung': the fleet is closed")
        return true
      },
    )
    await own.close()
    await joined
  })

  test("close ends a fetch waiting on another fleet's fill lock with a ClosedError naming the call and key", async () => {
    const own = await env.fleet()
    const other = await env.fleet()
    const namespace = uniqueKey('ns')
    const holder = cacheOf({ namespace }, other)
    const cache = cacheOf({ namespace }, own)
    const computing = opening()
    const finished = opening()
    const holding = holder.fetch('lk', async () => {
      computing.open() // the holder owns the fill lock from here on
      await finished.opened
      return 'v'
    })
    await computing.opened
    // The waiter's read, then its attempt at the lock, which finds it held: then it waits.
    const refused = commandsEnded(env.namespace, 'cache.fetch', 'lk', 2)
    const waiting = assert.rejects(
      cache.fetch('lk', () => 'mine'),
      (error) => {
        assert.ok(error instanceof ClosedError)
        assert.equal(error.message, "cache.fetch 'lk': the fleet is closed")
        assert.equal(error.outcome, 'not-applied')
        return true
      },
    )
    await refused
    await own.close()
    await waiting
    finished.open()
    assert.equal(await holding, 'v')
  })
})

/** Resolves once `count` commands of `op` on `key` in `namespace` have ended (redfleet:command). */
function commandsEnded(namespace: string, op: string, key: string, count: number): Promise<void> {
  const channel = diagnosticsChannel.tracingChannel('redfleet:command')
  return new Promise((resolve) => {
    let seen = 0
    const handlers = {
      start() {},
      end() {},
      asyncStart() {},
      asyncEnd(message: unknown) {
        const context = message as { op: string; key?: string; namespace: string }
        if (context.namespace !== namespace || context.op !== op || context.key !== key) return
        if (++seen < count) return
        channel.unsubscribe(handlers)
        resolve()
      },
      error() {},
    }
    channel.subscribe(handlers)
  })
}

/** Resolves after the event loop has turned once (pending I/O callbacks and replies handled). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
