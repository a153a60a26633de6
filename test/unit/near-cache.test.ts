/**
 * The near cache's bookkeeping on its own: read tickets (an invalidation that overtakes a read
 * keeps its reply out), the online switch, the scope entries are kept relative to, tag versions,
 * and the vouch of the node serving a key (an entry lives only as long as that node's promise).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as turn } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Entry } from '../../src/cache/entry.ts'
import { NearCache, type Vouch } from '../../src/cache/near.ts'
import { NearCaches } from '../../src/cache/near-caches.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function entry(text: string, raw = false): Entry {
  return { raw, text, typed: false, expiresAt: undefined, version: undefined, tags: undefined }
}

/** An online near cache without a scope (entries kept by full key). */
function online(max = 10, scope?: string): NearCache {
  const near = new NearCache(max, { entries: scope, tags: 'f:cache~tag:' })
  near.setOnline(true)
  return near
}

/** A completed read of `key` that found `value`. */
function fill(near: NearCache, key: string, value: Entry | undefined): void {
  const ticket = near.begin(key)
  assert.ok(ticket, `a read of ${key} gets a ticket`)
  near.end(key, ticket, value)
}

type TestVouch = { live: boolean; epoch: number; trustedUntil: number }

/** A node's vouch whose state the test changes. */
function node(): TestVouch {
  return { live: true, epoch: 1, trustedUntil: Number.POSITIVE_INFINITY }
}

test('offline: nothing is read or kept, and a read starts the invalidation source', () => {
  let activations = 0
  const near = new NearCache(10, { entries: undefined, tags: 'f:cache~tag:' }, () => activations++)
  assert.equal(near.online, false)
  assert.equal(near.get('k'), undefined)
  assert.equal(activations, 1)
  assert.equal(near.begin('k'), undefined)
  assert.equal(near.beginTags(['t']), undefined)
  assert.equal(near.tagVersions(['t']), undefined)
  assert.equal(near.tagVersions([]), undefined, 'not even an empty list is known')
  near.setOnline(true)
  assert.equal(near.online, true)
  assert.equal(near.get('k'), undefined)
  assert.equal(activations, 1, 'an online cache does not start the source again')
  const passive = new NearCache(10, { entries: undefined, tags: 'f:cache~tag:' })
  assert.equal(passive.get('k'), undefined, 'without a source to start, an offline read is a miss')
})

test('a finished read is kept and served; a miss and a raw entry are not kept', () => {
  const near = online()
  const value = entry('{"a":1}')
  fill(near, 'k', value)
  assert.equal(near.get('k'), value)
  assert.deepEqual(value.tree, { a: 1 }, 'kept entries are parsed once')
  fill(near, 'missing', undefined)
  fill(near, 'counter', entry('7', true))
  assert.equal(near.get('missing'), undefined)
  assert.equal(near.get('counter'), undefined)
  assert.equal(near.size, 1)
})

test('at most max entries are kept, the least recently used out first', () => {
  const near = online(2)
  fill(near, 'a', entry('1'))
  fill(near, 'b', entry('2'))
  near.get('a')
  fill(near, 'c', entry('3'))
  assert.equal(near.size, 2)
  assert.equal(near.get('b'), undefined)
  assert.ok(near.get('a'))
  assert.ok(near.get('c'))
})

test('max is a bound, not an allocation: a large one takes no memory up front', () => {
  // lru-cache's `max` allocated room for that many entries at once: 322 MB for 10 million,
  // a process abort at 2^31, a RangeError at 2^32 (helper-190).
  gc()
  const before = process.memoryUsage()
  const held = [online(10_000_000), online(2 ** 32)]
  const after = process.memoryUsage()
  const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
  assert.ok(grown < 10_000_000, `${(grown / 1e6).toFixed(0)} MB for two empty near caches`)
  for (const near of held) {
    fill(near, 'a', entry('1'))
    assert.ok(near.get('a'))
  }
})

test('an invalidation during a read keeps its reply out, for every reader sharing it', () => {
  const near = online()
  const first = near.begin('k')!
  const second = near.begin('k')!
  assert.equal(first, second, 'concurrent reads of one key share a ticket')
  near.invalidate('k')
  near.end('k', first, entry('"old"'))
  near.end('k', second, entry('"old"'))
  assert.equal(near.get('k'), undefined)
  // A read that begins after the invalidation is a new one, and is kept.
  fill(near, 'k', entry('"new"'))
  assert.equal(near.get('k')?.text, '"new"')
})

test('a ticket is dropped once its last reader ends: a later invalidation spares a later read', () => {
  const near = online()
  const first = near.begin('k')!
  const second = near.begin('k')!
  near.end('k', first, undefined)
  near.end('k', second, undefined)
  near.invalidate('k')
  fill(near, 'k', entry('1'))
  assert.ok(near.get('k'), 'the new read got a fresh ticket')
})

test('a ticket stays while another reader still holds it', () => {
  const near = online()
  const first = near.begin('k')!
  const second = near.begin('k')!
  near.end('k', first, undefined)
  near.invalidate('k')
  near.end('k', second, entry('"old"'))
  assert.equal(near.get('k'), undefined, 'the remaining reader saw the invalidation')
})

test('an invalidation forgets a kept entry and a kept tag version', () => {
  const near = online()
  fill(near, 'k', entry('1'))
  const tickets = near.beginTags(['tag'])!
  near.endTags(['tag'], tickets, [4])
  near.invalidate('k')
  near.invalidate('tag')
  assert.equal(near.get('k'), undefined)
  assert.equal(near.tagVersions(['tag']), undefined)
})

test('going offline (or online again) flushes everything and spoils reads in flight', () => {
  const near = online()
  fill(near, 'k', entry('1'))
  const read = near.begin('r')!
  const tags = near.beginTags(['t'])!
  near.setOnline(false)
  assert.equal(near.online, false)
  near.setOnline(true)
  assert.equal(near.get('k'), undefined)
  near.end('r', read, entry('1'))
  near.endTags(['t'], tags, [1])
  assert.equal(near.get('r'), undefined)
  assert.equal(near.tagVersions(['t']), undefined)
  assert.equal(near.size, 0)
})

test('entries are kept relative to the scope; invalidations outside it touch only tags', () => {
  const near = online(10, 'ns:c:')
  fill(near, 'k', entry('1'))
  // As long as the scope, so that cutting the scope's length off it would leave `k`.
  near.invalidate('ns:d:k')
  assert.ok(near.get('k'), 'a key outside the scope is not ours')
  const tickets = near.beginTags(['other:tag'])!
  near.endTags(['other:tag'], tickets, [2])
  assert.deepEqual(near.tagVersions(['other:tag']), [2])
  near.invalidate('other:tag')
  assert.equal(near.tagVersions(['other:tag']), undefined, 'tags are kept by full key')
  near.invalidate('ns:c:k')
  assert.equal(near.get('k'), undefined, 'the full key maps to the scoped entry')
  const read = near.begin('r')!
  near.invalidate('ns:c:r')
  near.end('r', read, entry('1'))
  assert.equal(near.get('r'), undefined, 'and to the scoped read in flight')
})

test('the vouch is looked up by full key, scope included', () => {
  const near = online(10, 'ns:c:')
  const asked: string[] = []
  const vouch = node()
  near.follow((full) => {
    asked.push(full)
    return vouch
  })
  fill(near, 'k', entry('1'))
  assert.ok(near.get('k'))
  assert.deepEqual(asked, ['ns:c:k', 'ns:c:k'], 'at the start and at the end of the read')
})

test('without a scope the vouch is looked up by the key itself', () => {
  const near = online()
  const asked: string[] = []
  const vouch = node()
  near.follow((full) => {
    asked.push(full)
    return vouch
  })
  fill(near, 'ns:k', entry('1'))
  assert.deepEqual(asked, ['ns:k', 'ns:k'])
})

test('a revoked read ending does not drop the ticket of a newer read of the key', () => {
  const near = online()
  const old = near.begin('k')!
  near.invalidate('k')
  const newer = near.begin('k')!
  assert.notEqual(newer, old)
  near.end('k', old, entry('"old"'))
  // The newer read is still in flight: this invalidation must reach it.
  near.invalidate('k')
  near.end('k', newer, entry('"stale"'))
  assert.equal(near.get('k'), undefined)
})

test('tag versions: all known or none; a read in flight is spoiled by an invalidation', () => {
  const near = online()
  const tickets = near.beginTags(['a', 'b'])!
  assert.equal(tickets.length, 2)
  near.endTags(['a', 'b'], tickets, [3, 5])
  assert.deepEqual(near.tagVersions(['a', 'b']), [3, 5])
  assert.deepEqual(near.tagVersions([]), [])
  assert.equal(near.tagVersions(['a', 'c']), undefined)
  const again = near.beginTags(['c'])!
  near.invalidate('c')
  near.endTags(['c'], again, [1])
  assert.equal(near.tagVersions(['c']), undefined)
})

test('without a live node to vouch for it, a key is read without a ticket', () => {
  const near = online()
  const down = { live: false, epoch: 1, trustedUntil: Number.POSITIVE_INFINITY }
  near.follow(() => down)
  assert.equal(near.begin('k'), undefined)
  near.follow(() => undefined)
  assert.equal(near.begin('k'), undefined, 'no node known')
})

test('beginTags gives no tickets when one tag has no live node, and releases the others', () => {
  const near = online()
  const up = node()
  const down = { live: false, epoch: 1, trustedUntil: Number.POSITIVE_INFINITY }
  near.follow((full) => (full === 'b' ? down : up))
  assert.equal(near.beginTags(['a', 'b']), undefined)
  // Had `a` kept its ticket, this read would join it and its old epoch would spoil it.
  up.epoch = 2
  const tickets = near.beginTags(['a'])!
  near.endTags(['a'], tickets, [7])
  assert.deepEqual(near.tagVersions(['a']), [7])
})

test('an entry is served only while the epoch of its node is the one it was filled in', () => {
  const near = online()
  const vouch = node()
  near.follow(() => vouch)
  fill(near, 'k', entry('1'))
  const tickets = near.beginTags(['t'])!
  near.endTags(['t'], tickets, [1])
  assert.ok(near.get('k'))
  assert.deepEqual(near.tagVersions(['t']), [1])
  vouch.epoch = 2
  assert.equal(near.get('k'), undefined)
  assert.equal(near.tagVersions(['t']), undefined)
  assert.equal(near.size, 0, 'a stale entry is dropped when found')
  fill(near, 'k', entry('2'))
  assert.equal(near.get('k')?.text, '2', 'filled again under the new epoch')
})

test('an entry waits while its node is not trusted (its invalidations read late), and is served again after', () => {
  const near = online()
  const vouch = node()
  near.follow(() => vouch)
  fill(near, 'k', entry('1'))
  const tickets = near.beginTags(['t'])!
  near.endTags(['t'], tickets, [1])
  vouch.trustedUntil = performance.now()
  assert.equal(near.get('k'), undefined)
  assert.equal(near.tagVersions(['t']), undefined)
  assert.equal(near.size, 1, 'kept: nothing broke, its invalidations are only late')
  vouch.trustedUntil = performance.now() + 60_000
  assert.equal(near.get('k')?.text, '1')
  assert.deepEqual(near.tagVersions(['t']), [1])
})

test('a reply is not kept when its node broke its promise during the read', () => {
  const cases: [string, (vouch: TestVouch) => void][] = [
    ['the node went down', (vouch) => (vouch.live = false)],
    ['the node changed epoch', (vouch) => vouch.epoch++],
  ]
  for (const [name, change] of cases) {
    const near = online()
    const vouch = node()
    near.follow(() => vouch)
    const read = near.begin('k')!
    const tags = near.beginTags(['t'])!
    change(vouch)
    near.end('k', read, entry('1'))
    near.endTags(['t'], tags, [1])
    vouch.live = true
    assert.equal(near.size, 0, name)
    assert.equal(near.tagVersions(['t']), undefined, name)
  }
})

test('a reply is not kept when another node serves the key by the end of the read (a MOVED)', () => {
  const near = online()
  let serving: Vouch = node()
  near.follow(() => serving)
  const read = near.begin('k')!
  const tags = near.beginTags(['t'])!
  serving = node()
  near.end('k', read, entry('1'))
  near.endTags(['t'], tags, [1])
  assert.equal(near.size, 0)
  assert.equal(near.tagVersions(['t']), undefined)
})

test('a near cache may hold a key under a base its entries or tag versions meet, or any key when keyed by full key', () => {
  const near = new NearCache(10, { entries: 'f:cache:a:', tags: 'f:cache~tag:a:' })
  assert.equal(near.mayHoldUnder('f:cache:a:'), true, 'its own namespace')
  assert.equal(near.mayHoldUnder('f:cache:a:in:'), true, 'a namespace nested in it')
  assert.equal(near.mayHoldUnder('f:cache:'), true, 'a namespace around it')
  assert.equal(
    near.mayHoldUnder('f:cache~tag:a:x:'),
    true,
    "keys that may be its tag versions (views' namespaces can meet)",
  )
  assert.equal(near.mayHoldUnder('f:cache:ab:'), false, 'a namespace that only starts alike')
  assert.equal(near.mayHoldUnder('f:cache:b:'), false, 'another namespace')
  const tenant = new NearCache(10, { entries: undefined, tags: 'f:cache~tag:t:' })
  assert.equal(tenant.mayHoldUnder('f:cache:b:'), true, 'a tenant cache keeps entries by full key')
})

test("a cache's eviction reaches the near caches that may hold its keys, those added later too, and only those", () => {
  const caches = new NearCaches()
  const [own, other] = [online(10, 'f:cache:a:'), online(10, 'f:cache:b:')]
  caches.add(own)
  caches.add(other)
  const eviction = caches.evictionFor('f:cache:a:')
  fill(own, 'k', entry('1'))
  fill(other, 'k', entry('1'))
  eviction.evictEntry('f:cache:a:k')
  assert.equal(own.get('k'), undefined, 'its own namespace: evicted')
  assert.ok(other.get('k'), 'another namespace: left alone')
  const later = online(10, 'f:cache:')
  caches.add(later)
  fill(later, 'a:k', entry('1'))
  eviction.evictEntry('f:cache:a:k')
  assert.equal(later.get('a:k'), undefined, 'a near cache added after the first eviction')
})

test("near caches collected leave nothing in the fleet's list, though no change prunes it", async () => {
  const heapUsed = async () => {
    // Collection, then the finalization callbacks, which run in later turns.
    for (let i = 0; i < 5; i++) {
      gc()
      await turn()
    }
    return process.memoryUsage().heapUsed
  }
  const caches = new NearCaches()
  const before = await heapUsed()
  // One per request in a process that only reads: nothing calls invalidate, which prunes too.
  for (let i = 0; i < 100_000; i++) caches.add(online(1, `f:cache:${i}:`))
  const grown = (await heapUsed()) - before
  // Before: a WeakRef and a set slot per dropped near cache, ~6 MB for these.
  assert.ok(grown < 2_000_000, `the heap grew by ${grown} bytes`)
  // Used after the measure: collected before it, the list would take what it holds with it.
  assert.deepEqual(caches.holdersUnder('f:cache:'), [], 'every near cache was collected')
})
