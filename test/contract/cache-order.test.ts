/**
 * Call order of the cache (SPEC §2: "the same holds for the cache's single- and multi-key
 * methods"), on all four topologies, with and without a near cache, on one and on three command
 * connections per node: a call sees every change made before it and none made after it,
 * awaited or not, through any cache object of the fleet; clear, deleteMatched and tags included.
 */
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { setTimeout } from 'node:timers/promises'
import type { Cache, CacheOptions, Fleet } from '../../src/index.ts'
import { untilNearHit } from '../harness/near-cache.ts'
import { forEachTopology } from '../harness/topologies.ts'
import { opening, raise, uniqueKey } from './cache-support.ts'

/** A bound far above the time a near cache takes to come online (its tracking connections' handshakes). */
const NEAR_ONLINE_MS = 10_000

forEachTopology('Cache contract (call order)', (env) => {
  let fleet: Fleet
  before(async () => {
    fleet = await env.fleet()
  })
  const cacheOf = (options: CacheOptions = {}, on = fleet) =>
    on.cache({ namespace: uniqueKey('ns'), errorHandler: raise, ...options })
  /** A fleet with several command connections per node, made once when a test first asks. */
  let pooled: Promise<Fleet> | undefined
  const pooledFleet = () => {
    pooled ??= env.fleet({ pool: { size: 3 } })
    return pooled
  }
  /** The call-order tests run on a pool of one and of three connections per node. */
  const orderCases = [
    { near: false, pool: 1, on: '' },
    { near: { max: 100 }, pool: 1, on: ' (near cache)' },
    { near: false, pool: 3, on: ' (pool of 3)' },
    { near: { max: 100 }, pool: 3, on: ' (near cache, pool of 3)' },
  ] as const
  const orderCache = async (near: false | { max: number }, pool: number) =>
    cacheOf({ near }, pool === 1 ? fleet : await pooledFleet())

  for (const { near, pool, on } of orderCases) {
    test(`per-key call order${on}: a call made right after an un-awaited one on the same key sees it`, async () => {
      const cache = await orderCache(near, pool)
      await cache.write('a', 'old')
      await cache.read('a') // a near cache now holds 'old'
      const writeMulti = cache.writeMulti({ a: 'multi', b: 'multi' })
      assert.equal(await cache.read('a'), 'multi', 'read after writeMulti')
      assert.deepEqual(
        await cache.readMulti(['a', 'b']),
        new Map([
          ['a', 'multi'],
          ['b', 'multi'],
        ]),
      )
      await writeMulti
      const deleteMulti = cache.deleteMulti(['a', 'b'])
      assert.equal(await cache.read('a'), undefined, 'read after deleteMulti')
      assert.equal(await cache.exist('b'), false, 'exist after deleteMulti')
      await deleteMulti
      const tagged = cache.write('a', 'tagged', { tags: ['t'] })
      assert.equal(
        await cache.read('a'),
        'tagged',
        'read after a tagged write (which reads tag versions first)',
      )
      await tagged
      const deleted = cache.delete('a')
      assert.equal(await cache.read('a'), undefined, 'read after delete')
      await deleted
      // Writes keep their order too: the later call's value is the one that stays.
      const first = cache.writeMulti({ a: 'first' })
      const second = cache.write('a', 'second')
      const counter = cache.writeMulti({ n: 5 }, { raw: true })
      assert.equal(await cache.increment('n'), 6, 'increment after writeMulti')
      await Promise.all([first, second, counter])
      assert.equal(await cache.read('a'), 'second')
      assert.equal(await cache.fetch('a', () => 'computed'), 'second')
    })
  }

  for (const { near, pool, on } of orderCases) {
    test(`call order${on}: an unlessExist write over a tagged entry comes before the calls made after it`, async () => {
      // One that finds an entry reads its tags and replaces it if they invalidated it: the later
      // calls went ahead of that (helper-199).
      const cache = await orderCache(near, pool)
      for (const [method, write] of [
        ['write', (key: string) => cache.write(key, 'new', { unlessExist: true })],
        ['writeMulti', (key: string) => cache.writeMulti({ [key]: 'new' }, { unlessExist: true })],
      ] as const) {
        const live = uniqueKey(method)
        const tag = uniqueKey('tag')
        await cache.write(live, 'old', { tags: [tag] })
        const found = await Promise.all([write(live), cache.invalidateTag(tag), cache.read(live)])
        // writeMulti resolves true whatever it wrote (SPEC §3); write says it found a value.
        if (method === 'write') assert.equal(found[0], false, 'write found a live entry')
        assert.equal(found[2], undefined, `${method}, then invalidateTag: the old entry invalidated`)
        assert.equal(await cache.read(live), undefined, `${method} did not replace a live entry`)

        const stale = uniqueKey(method)
        await cache.write(stale, 'old', { tags: [tag] })
        await cache.invalidateTag(tag)
        const replaced = await Promise.all([write(stale), cache.read(stale), cache.exist(stale)])
        assert.deepEqual(
          replaced,
          [true, 'new', true],
          `${method} over an invalidated entry, then read and exist`,
        )
      }
    })

    test(`call order${on}: invalidateTag made right after a tagged write invalidates what it wrote`, async () => {
      const cache = await orderCache(near, pool)
      // Several rounds: on a cluster the tag-version read of a write used to lose the race half the time.
      for (let round = 0; round < 8; round++) {
        const tag = `tag-${round}`
        await Promise.all([cache.write(`p${round}`, 'product', { tags: [tag] }), cache.invalidateTag(tag)])
        assert.equal(await cache.read(`p${round}`), undefined, `write, then invalidateTag (round ${round})`)
        await Promise.all([
          cache.writeMulti({ [`m${round}`]: 'multi' }, { tags: [tag] }),
          cache.invalidateTag(tag),
        ])
        assert.equal(
          await cache.read(`m${round}`),
          undefined,
          `writeMulti, then invalidateTag (round ${round})`,
        )
        await Promise.all([cache.invalidateTag(tag), cache.write(`q${round}`, 'fresh', { tags: [tag] })])
        assert.equal(await cache.read(`q${round}`), 'fresh', `invalidateTag, then write (round ${round})`)
      }
    })

    test(`call order${on}: clear and deleteMatched come after the calls made before them, before the ones after`, async () => {
      const cache = await orderCache(near, pool)
      for (let round = 0; round < 10; round++) {
        // Many writes just before: with a pool, they are on their way on every connection.
        const many = Array.from({ length: 30 }, (_, i) => `many${round}-${i}`)
        await Promise.all([...many.map((key) => cache.write(key, 'v')), cache.clear()])
        assert.deepEqual(await cache.readMulti(many), new Map(), `writes before clear (round ${round})`)
        await cache.write(`seen${round}`, 'old')
        const [seen] = await Promise.all([
          cache.read(`seen${round}`),
          cache.write(`before${round}`, 'v'),
          cache.write(`tagged${round}`, 'v', { tags: ['t'] }),
          cache.writeMulti({ [`multi${round}`]: 'v' }),
          cache.clear(),
          cache.write(`after${round}`, 'v'),
          cache.writeMulti({ [`later${round}`]: 'v' }),
        ])
        assert.equal(seen, 'old', `a read before clear (round ${round})`)
        assert.deepEqual(
          await cache.readMulti([
            `before${round}`,
            `tagged${round}`,
            `multi${round}`,
            `after${round}`,
            `later${round}`,
          ]),
          new Map([
            [`after${round}`, 'v'],
            [`later${round}`, 'v'],
          ]),
          `clear (round ${round})`,
        )
        const [, removed] = await Promise.all([
          cache.write(`m-before${round}`, 'v'),
          cache.deleteMatched('m-*'),
          cache.write(`m-after${round}`, 'v'),
        ])
        assert.equal(removed, 1, `deleteMatched counts the write before it (round ${round})`)
        assert.deepEqual(
          await cache.readMulti([`m-before${round}`, `m-after${round}`]),
          new Map([[`m-after${round}`, 'v']]),
          `deleteMatched (round ${round})`,
        )
        await cache.delete(`m-after${round}`)
      }
    })

    test(`call order${on}: holds across the cache objects of one fleet`, async () => {
      const owner = pool === 1 ? fleet : await pooledFleet()
      const namespace = uniqueKey('shared')
      const cache = () => owner.cache({ namespace, near, errorHandler: raise })
      // An object in use and new ones: a new object's first calls go out at once too.
      const used = cache()
      await used.read('warm-up')
      for (let round = 0; round < 4; round++) {
        await used.write(`near${round}`, 'old', { tags: ['n'] })
        await used.read(`near${round}`) // a near cache now holds it
        const [, changed] = await Promise.all([
          cache().write(`near${round}`, 'new'),
          used.read(`near${round}`),
        ])
        assert.equal(
          changed,
          'new',
          `another object's write, then a read of a near-cached key (round ${round})`,
        )
        await used.read(`near${round}`)
        const [, deleted] = await Promise.all([cache().delete(`near${round}`), used.read(`near${round}`)])
        assert.equal(deleted, undefined, `another object's delete, then a read (round ${round})`)
        await used.write(`near${round}`, 'tagged', { tags: ['n'] })
        await used.read(`near${round}`)
        const [, invalidated] = await Promise.all([cache().invalidateTag('n'), used.read(`near${round}`)])
        assert.equal(invalidated, undefined, `another object's invalidateTag, then a read (round ${round})`)
        const [, written] = await Promise.all([cache().write(`w${round}`, 'v'), used.read(`w${round}`)])
        assert.equal(written, 'v', `a new object's write, then a read (round ${round})`)
        const [, , kept] = await Promise.all([
          cache().delete(`w${round}`),
          used.write(`w${round}`, 'again'),
          cache().read(`w${round}`),
        ])
        assert.equal(kept, 'again', `a new object's delete, then a write (round ${round})`)
      }
      for (let round = 0; round < 4; round++) {
        const [, tagged, , many, , counted] = await Promise.all([
          cache().write(`t${round}`, 'tagged', { tags: ['x'] }),
          cache().read(`t${round}`),
          cache().writeMulti({ [`a${round}`]: 1, [`b${round}`]: 2 }),
          cache().readMulti([`a${round}`, `b${round}`]),
          cache().increment(`n${round}`),
          cache().readCounter(`n${round}`),
        ])
        assert.deepEqual(
          [tagged, many, counted],
          [
            'tagged',
            new Map([
              [`a${round}`, 1],
              [`b${round}`, 2],
            ]),
            1,
          ],
          `round ${round}`,
        )
      }
    })

    test(`call order${on}: holds across cache objects whose keys meet (nested namespaces, tenants, a near cache made later)`, async () => {
      const owner = pool === 1 ? fleet : await pooledFleet()
      const cacheIn = (namespace: string, options: CacheOptions = {}) =>
        owner.cache({ namespace, near, errorHandler: raise, ...options })
      /** Reads `key` through `cache` until its near cache holds it (with one). */
      const hold = (cache: Cache, key: string) =>
        near ? untilNearHit(cache, key, NEAR_ONLINE_MS, []) : cache.read(key)
      /** Sends `change`, and in the same tick a read of `key` through `reader`. */
      const readAfter = async (reader: Cache, key: string, change: () => Promise<unknown>) =>
        (await Promise.all([change(), reader.read(key)]))[1]
      // Key 'in:k' of namespace `outer` and key 'k' of namespace `outer:in` are one Redis key.
      const outer = uniqueKey('outer')
      const [wide, narrow] = [cacheIn(outer), cacheIn(`${outer}:in`)]
      await wide.write('in:k', 'old')
      await hold(wide, 'in:k')
      assert.equal(await readAfter(wide, 'in:k', () => narrow.write('k', 'new')), 'new', 'nested, then outer')
      await hold(narrow, 'k')
      assert.equal(
        await readAfter(narrow, 'k', () => wide.write('in:k', 'newer')),
        'newer',
        'outer, then nested',
      )
      // Two objects of one tenant cache (its near cache keeps entries by their full key).
      const tenants = uniqueKey('tenants')
      const [reader, writer] = [1, 2].map(() => cacheIn(tenants, { tenant: () => 'acme' })) as [Cache, Cache]
      await writer.write('k', 'old')
      await hold(reader, 'k')
      assert.equal(await readAfter(reader, 'k', () => writer.write('k', 'new')), 'new', 'a tenant cache')
      // A near cache made after another object of its namespace wrote: that object's next writes evict it.
      const later = uniqueKey('later')
      const writing = cacheIn(later, { near: false })
      await writing.write('k', 'first')
      const reading = cacheIn(later)
      await hold(reading, 'k')
      assert.equal(
        await readAfter(reading, 'k', () => writing.write('k', 'second')),
        'second',
        'a later near cache',
      )
      // Views whose keys would meet (an entry of one the tag version of the other) cannot be made.
      const view = uniqueKey('view')
      assert.throws(() => owner.withNamespace(`${view}:cache~tag`), { code: 'ERR_INVALID_OPTION' })
    })

    test(`call order${on}: calls made after an invalidateTag held back by a read see it`, async () => {
      const cache = await orderCache(near, pool)
      for (let round = 0; round < 4; round++) {
        const tag = `held-${round}`
        await cache.writeMulti(
          { [`k${round}`]: 'v', [`m${round}`]: 'v', [`e${round}`]: 'v' },
          { tags: [tag] },
        )
        await cache.read(`k${round}`) // a near cache now holds it
        const [, , read, many, found, forced] = await Promise.all([
          cache.read(`other${round}`), // on its way: the invalidation waits for it
          cache.invalidateTag(tag),
          cache.read(`k${round}`),
          cache.readMulti([`m${round}`]),
          cache.exist(`e${round}`),
          cache.fetch(`f${round}`, { force: true, tags: [tag] }, () => 'fresh'),
        ])
        assert.deepEqual(
          [read, many, found, forced],
          [undefined, new Map(), false, 'fresh'],
          `read, readMulti, exist, fetch after invalidateTag (round ${round})`,
        )
        assert.equal(
          await cache.read(`f${round}`),
          'fresh',
          `a tagged fill after it survives (round ${round})`,
        )
      }
    })

    test(`call order${on}: a fetch made before a write of its key does not return that write`, async () => {
      const cache = await orderCache(near, pool)
      for (let round = 0; round < 4; round++) {
        const [fetched] = await Promise.all([
          cache.fetch(`x${round}`, () => 'computed'),
          cache.write(`x${round}`, 'written'),
        ])
        assert.equal(fetched, 'computed', `round ${round}`)
        assert.equal(await cache.read(`x${round}`), 'written', `the later write stays (round ${round})`)
      }
    })

    test(`call order${on}: a fetch made after a change of its key computes its own value, never joining an earlier fetch's`, async () => {
      const cache = await orderCache(near, pool)
      for (const change of ['delete', 'write'] as const) {
        const key = `after-${change}`
        const computing = opening()
        const first = cache.fetch(key, async () => {
          await computing.opened
          return 'first'
        })
        const changed = change === 'delete' ? cache.delete(key) : cache.write(key, 'written')
        const second = cache.fetch(key, () => 'second')
        computing.open()
        assert.equal(await first, 'first')
        await changed
        assert.equal(await second, change === 'delete' ? 'second' : 'written', `after a ${change}`)
        assert.equal(await cache.read(key), change === 'delete' ? 'second' : 'written', `stored (${change})`)
      }
    })

    test(`call order${on}: reads made right before invalidateTag see the entry it invalidates`, async () => {
      const cache = await orderCache(near, pool)
      for (let round = 0; round < 4; round++) {
        const [tag, key] = [`seen-${round}`, `r${round}`]
        await cache.write(key, 'tagged', { tags: [tag] })
        const [read, many, found, fetched] = await Promise.all([
          cache.read(key),
          cache.readMulti([key]),
          cache.exist(key),
          cache.fetch(key, () => 'computed'),
          cache.invalidateTag(tag),
        ])
        assert.deepEqual(
          [read, many, found, fetched],
          ['tagged', new Map([[key, 'tagged']]), true, 'tagged'],
          `read, readMulti, exist and fetch, then invalidateTag (round ${round})`,
        )
        assert.equal(await cache.read(key), undefined, `invalidated (round ${round})`)
      }
    })

    test(`call order${on}: a multi-key read never sees a change made after it`, async () => {
      const cache = await orderCache(near, pool)
      await cache.write('a', 'old')
      await cache.read('a') // a near cache now holds 'old'
      const [, read] = await Promise.all([
        cache.writeMulti({ b: 'B' }),
        cache.readMulti(['a', 'b']),
        cache.write('a', 'made-later'),
      ])
      assert.deepEqual(
        read,
        new Map([
          ['a', 'old'],
          ['b', 'B'],
        ]),
        'readMulti waits for the earlier writeMulti, the later write waits for it',
      )
      const [alone] = await Promise.all([cache.readMulti(['a']), cache.write('a', 'new')])
      assert.deepEqual(alone, new Map([['a', 'made-later']]), 'readMulti, then write')
      const [before] = await Promise.all([cache.readMulti(['a']), cache.delete('a')])
      assert.deepEqual(before, new Map([['a', 'new']]), 'readMulti, then delete')
      // A counter held back by an earlier read is itself waited for by later calls on its key.
      const [, counted] = await Promise.all([
        cache.readMulti(['n1']),
        cache.increment('n1'),
        cache.readCounter('n1'),
      ])
      assert.equal(counted, 1, 'readCounter after increment')
      await Promise.all([cache.readMulti(['n2']), cache.increment('n2'), cache.delete('n2')])
      assert.equal(await cache.readCounter('n2'), undefined, 'delete after increment')
      // Reads and changes alternating, none awaited: each read sees exactly the changes made before it.
      const alternating = await Promise.all([
        cache.readMulti(['a', 'c']),
        cache.write('a', 1),
        cache.readMulti(['a', 'c']),
        cache.writeMulti({ a: 2, c: 3 }),
        cache.readMulti(['a', 'c']),
        cache.delete('a'),
        cache.readMulti(['a', 'c']),
      ])
      assert.deepEqual(
        [alternating[0], alternating[2], alternating[4], alternating[6]],
        [
          new Map(),
          new Map([['a', 1]]),
          new Map([
            ['a', 2],
            ['c', 3],
          ]),
          new Map([['c', 3]]),
        ],
      )
      await cache.write('f', 'old')
      const [, fetched] = await Promise.all([
        cache.writeMulti({ g: 'G' }),
        cache.fetchMulti(['f', 'g'], {}, () => 'computed'),
        cache.write('f', 'later'),
      ])
      assert.deepEqual(
        fetched,
        new Map([
          ['f', 'old'],
          ['g', 'G'],
        ]),
        'fetchMulti reads before the later write',
      )
      assert.equal(await cache.read('f'), 'later')
      // Single-key reads that had to wait for a multi-key change are overtaken by nothing either.
      const [, single, found] = await Promise.all([
        cache.writeMulti({ r: 'R' }),
        cache.read('r'),
        cache.exist('r'),
        cache.delete('r'),
      ])
      assert.deepEqual([single, found], ['R', true], 'read and exist, then delete')
      assert.equal(await cache.read('r'), undefined)
    })

    test(`call order${on}: a change made while a fetch computes wins over its fill`, async () => {
      const cache = await orderCache(near, pool)
      // Each compute returns only once the later call has been applied (no timing involved).
      let deleted = opening()
      const computed = cache.fetch('k', async () => {
        await deleted.opened
        return 'computed'
      })
      await cache.delete('k').finally(deleted.open)
      assert.equal(await computed, 'computed', 'the fetch still returns its value')
      assert.equal(await cache.read('k'), undefined, 'fetch, then delete')

      const written = opening()
      const forced = cache.fetch('k3', { force: true }, async () => {
        await written.opened
        return 'forced'
      })
      await cache.write('k3', 'later').finally(written.open)
      assert.equal(await forced, 'forced')
      assert.equal(await cache.read('k3'), 'later', 'fetch with force, then write')

      deleted = opening()
      const many = cache.fetchMulti(['x', 'y'], {}, async (key) => {
        await deleted.opened
        return `computed ${String(key)}`
      })
      await cache.delete('x').finally(deleted.open)
      assert.deepEqual(
        await many,
        new Map([
          ['x', 'computed x'],
          ['y', 'computed y'],
        ]),
      )
      assert.equal(await cache.read('x'), undefined, 'fetchMulti, then delete: x stays deleted')
      assert.equal(await cache.read('y'), 'computed y', 'y was not changed: its fill is stored')

      // A compute that uses its own key does not wait for itself; its write was made after the
      // fetch, so it is what stays.
      const inner = await cache.fetch('self', async () => {
        assert.equal(await cache.read('self'), undefined)
        await cache.write('self', 'written by the compute')
        return 'returned by the compute'
      })
      assert.equal(inner, 'returned by the compute')
      assert.equal(await cache.read('self'), 'written by the compute')
      assert.equal(await cache.fetch('plain', () => 'stored'), 'stored')
      assert.equal(await cache.read('plain'), 'stored', 'a fill nothing changed is stored')
    })
  }

  // A lock that would outlast the test: a nested fetch that waited for it would time the test out.
  const LOCK = 10 * 60_000
  for (const [what, lockTimeout] of [
    ['the fill lock', LOCK],
    ['no fill lock', 0],
  ] as const) {
    test(`a fetch made by the compute of its own key, with ${what}, computes itself (Rails): it neither joins nor waits for the outer one`, {
      timeout: LOCK / 10,
    }, async () => {
      const cache = cacheOf({ lockTimeout })
      const calls: string[] = []
      const outer = await cache.fetch('nested', async () => {
        calls.push('outer')
        const inner = await cache.fetch('nested', () => {
          calls.push('inner')
          return 'inner'
        })
        return `${inner}+outer`
      })
      assert.equal(outer, 'inner+outer')
      assert.deepEqual(calls, ['outer', 'inner'])
      // A fill is no change of the key (docs/cache.md): the outer one is stored last, as in Rails.
      assert.equal(await cache.read('nested'), 'inner+outer')
      // Through another cache object of the same namespace (the lock is the fleet's, not the object's).
      const namespace = uniqueKey('ns')
      const [a, b] = [cacheOf({ namespace, lockTimeout }), cacheOf({ namespace, lockTimeout })]
      const across = await a.fetch('k', async () => `${await b.fetch('k', () => 'b')}+a`)
      assert.equal(across, 'b+a')
    })
  }

  test('a read that waits for a clear or deleteMatched is not overtaken by the fill of a fetch made after it', async () => {
    // The read waits for the barrier; a forced fetch made next computes meanwhile, and its fill
    // must still go after the read (20 rounds: the race went either way).
    for (const near of [false, { max: 100 }] as const) {
      for (let round = 0; round < 20; round++) {
        const cache = cacheOf({ near })
        void cache.write('x1', 'tagged', { tags: ['t'] })
        void cache.deleteMatched('*1')
        const read = cache.read('x1')
        const exist = cache.exist('x1')
        const fetched = cache.fetch('x1', { force: true }, () =>
          setTimeout(0).then(() => 'computed after the read'),
        )
        assert.deepEqual(
          [await read, await exist],
          [undefined, false],
          `round ${round}, near ${near !== false}`,
        )
        assert.equal(await fetched, 'computed after the read')
        assert.equal(await cache.read('x1'), 'computed after the read')
      }
    }
  })

  test('an invalidateTag made right after a tagged fetch or fetchMulti leaves its fill stale, as in call order', async () => {
    const cache = cacheOf()
    const computed = () => setTimeout(20).then(() => 'computed')
    const fetched = cache.fetch('k', { tags: ['t'] }, computed)
    const many = cache.fetchMulti(['a', 'b'], { tags: ['t'] }, computed)
    void cache.invalidateTag('t')
    assert.equal(await fetched, 'computed')
    assert.deepEqual([...(await many).values()], ['computed', 'computed'])
    assert.deepEqual(await cache.readMulti(['k', 'a', 'b']), new Map(), 'filled, then invalidated')
    // Another tag's invalidation leaves the fill alone.
    const other = cache.fetch('k', { tags: ['t'] }, computed)
    void cache.invalidateTag('u')
    assert.equal(await other, 'computed')
    assert.equal(await cache.read('k'), 'computed')
  })
})
