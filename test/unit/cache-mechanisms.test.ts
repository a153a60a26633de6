/**
 * The cache's own mechanisms on fakes, where nothing else can mask them: the own-write eviction
 * of the near cache (no invalidation source here, so only the cache's own eviction can drop an
 * entry), Rails' failsafe mapping of each method to what it returns on a failure, and Redis
 * glob matching.
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { after, test } from 'node:test'
import type { CacheBackend } from '../../src/cache/backend.ts'
import { FleetCache } from '../../src/cache/cache.ts'
import { CACHE_CLOCK } from '../../src/cache/clock.ts'
import { globMatcher } from '../../src/cache/glob.ts'
import { NearCache } from '../../src/cache/near.ts'
import { nearScopes } from '../../src/cache/scope.ts'
import type { CacheOptions } from '../../src/cache/types.ts'
import { ConnectionError, SerializationError, TimeoutError } from '../../src/errors.ts'
import { createFleet, fleetContext } from '../../src/fleet.ts'

const fleet = createFleet({ namespace: `unit-${process.pid}` })
const ctx = fleetContext(fleet)
after(() => fleet.close())

let namespaces = 0
/** A memory cache with a near cache that nothing but the cache itself ever invalidates. */
function nearCache(extra: Partial<CacheOptions> = {}): { cache: FleetCache; hits: () => number } {
  const options: CacheOptions = { namespace: `near${++namespaces}`, near: { max: 100 }, ...extra }
  const near = new NearCache(100, nearScopes(ctx, options))
  near.setOnline(true)
  const cache = new FleetCache(ctx, options, { near })
  return { cache, hits: () => cache.stats().nearHits }
}

/** Reads `key` twice: the second read must be a near hit (so the near cache holds the entry). */
async function held(cache: FleetCache, key: string): Promise<void> {
  await cache.read(key)
  const before = cache.stats().nearHits
  await cache.read(key)
  assert.equal(cache.stats().nearHits, before + 1, `${key} is held by the near cache`)
}

test('own-write eviction: write, writeMulti and fetch evict this process’s near entry once acknowledged', async () => {
  const { cache } = nearCache()
  await cache.write('k', 1)
  await held(cache, 'k')
  await cache.write('k', 2)
  assert.equal(await cache.read('k'), 2, 'write')
  await held(cache, 'k')
  await cache.writeMulti({ k: 3 })
  assert.equal(await cache.read('k'), 3, 'writeMulti')
  await held(cache, 'k')
  await cache.fetch('k', { force: true }, () => 4)
  assert.equal(await cache.read('k'), 4, 'fetch')
})

test('own-write eviction: delete, deleteMulti and increment evict this process’s near entry', async () => {
  const { cache } = nearCache()
  await cache.write('d', 'x')
  await held(cache, 'd')
  await cache.delete('d')
  assert.equal(await cache.read('d'), undefined, 'delete')
  await cache.write('m', 'x')
  await held(cache, 'm')
  await cache.deleteMulti(['m'])
  assert.equal(await cache.read('m'), undefined, 'deleteMulti')
  await cache.write('c', { not: 'raw' })
  await held(cache, 'c')
  await cache.delete('c')
  await cache.increment('c')
  assert.equal(await cache.readCounter('c'), 1, 'increment')
})

test('a near hit is a fresh deep copy: mutating one changes neither the cached value nor the next hit', async () => {
  const { cache } = nearCache()
  const value = { id: 1, tags: ['a', 'b'], nested: { ok: true, list: [{ x: 1 }] } }
  await cache.write('v', value)
  await held(cache, 'v')
  const got = (await cache.read<typeof value>('v'))!
  got.id = 2
  got.tags.push('c')
  got.nested.ok = false
  got.nested.list[0]!.x = 99
  const again = await cache.read<typeof value>('v')
  assert.deepEqual(again, value, 'the next hit is the value written')
  assert.notEqual(again!.nested, got.nested)
})

test('a near hit is judged as any read: version, expiry by the cache clock, tags; counted once', async () => {
  let now = Date.now()
  const { cache } = nearCache({ [CACHE_CLOCK]: () => now } as Partial<CacheOptions>)
  await cache.write('e', 'x', { expiresIn: 1000, version: 3 })
  await held(cache, 'e')
  const before = cache.stats()
  assert.equal(await cache.read('e', { version: 3 }), 'x', 'the same version (a number)')
  assert.equal(await cache.read('e', { version: '3' }), 'x', "'3' is 3")
  assert.equal(await cache.read('e', { version: 4 }), undefined, 'another version is a miss')
  const after = cache.stats()
  assert.equal(after.hits - before.hits, 2)
  assert.equal(after.misses - before.misses, 1)
  assert.equal(
    after.nearHits - before.nearHits,
    2,
    'a near entry of another version is a miss, not a near hit',
  )
  now += 1000
  assert.equal(await cache.read('e'), undefined, 'expired by the cache clock, though the near cache holds it')
  await cache.write('t', 'tagged', { tags: ['g'] })
  await held(cache, 't')
  await cache.invalidateTag('g')
  assert.equal(await cache.read('t'), undefined, 'an invalidated tag')
  await assert.rejects(cache.read(''), TypeError, 'a blank key rejects, never throws')
  await assert.rejects(cache.read('e', { version: {} as never }), TypeError, 'so does a bad version')
  now -= 1000
  await assert.rejects(
    cache.read('e', null as never),
    TypeError,
    'null options are refused, as by every other call, though the near cache holds the key',
  )
})

test('a read of a near-held key waits for an earlier call on it still on its way (SPEC §2 call order)', async () => {
  const { cache } = nearCache()
  await cache.write('o', 1)
  await held(cache, 'o')
  // A tagged write reads tag versions before it writes: it is tracked, and a later read waits.
  const writing = cache.write('o', 2, { tags: ['t'] })
  assert.equal(await cache.read('o'), 2)
  assert.equal(await writing, true)
})

test('a fetch answered by the near cache: no compute, a fresh copy, a hit; an expired entry is computed', async () => {
  let now = Date.now()
  const { cache } = nearCache({ [CACHE_CLOCK]: () => now } as Partial<CacheOptions>)
  await cache.write('f', { list: [1] }, { expiresIn: 1000 })
  await held(cache, 'f')
  let computed = 0
  const compute = () => {
    computed++
    return { list: [2] }
  }
  const before = cache.stats()
  const got = await cache.fetch<{ list: number[] }>('f', compute)
  got.list.push(9)
  assert.deepEqual(await cache.fetch('f', compute), { list: [1] })
  assert.equal(computed, 0)
  const after = cache.stats()
  assert.equal(after.hits - before.hits, 2)
  assert.equal(after.nearHits - before.nearHits, 2)
  now += 1000
  assert.deepEqual(await cache.fetch('f', compute), { list: [2] }, 'expired by the cache clock: computed')
  assert.equal(computed, 1)
  await assert.rejects(cache.fetch('', compute), TypeError, 'a blank key rejects, never throws')
})

test('a traced near hit says so on its trace', async () => {
  const { cache } = nearCache()
  await cache.write('n', 1)
  await held(cache, 'n')
  const seen: unknown[] = []
  const channel = diagnosticsChannel.tracingChannel('redfleet:cache:read')
  const handlers = {
    start() {},
    end() {},
    asyncStart() {},
    asyncEnd(context: object) {
      seen.push({ ...context })
    },
    error() {},
  }
  channel.subscribe(handlers)
  try {
    assert.equal(await cache.read('n'), 1)
    assert.equal(await cache.read('gone'), undefined)
  } finally {
    channel.unsubscribe(handlers)
  }
  assert.deepEqual(
    seen.map((c) => {
      const { key, hit, near, result } = c as Record<string, unknown>
      return { key, hit, near, result }
    }),
    [
      { key: 'n', hit: true, near: true, result: 1 },
      { key: 'gone', hit: false, near: false, result: undefined },
    ],
  )
})

/** A backend whose every command fails as an unreachable Redis does. */
const down: CacheBackend = new Proxy({} as CacheBackend, {
  get: (_, name) =>
    name === 'readsManyAtOnce'
      ? () => false
      : async () => {
          throw new ConnectionError('down', { outcome: 'not-applied' })
        },
})

interface Failure {
  method: string
  returning: unknown
  exception: unknown
}

function failingCache(errorHandler: (info: Failure) => void): FleetCache {
  return new FleetCache(
    ctx,
    { namespace: `down${++namespaces}`, errorHandler, retry: { attempts: 1 } },
    { backend: down },
  )
}

test('failsafe: each method returns what SPEC §3 says and tells errorHandler so, once', async () => {
  const seen: Failure[] = []
  const cache = failingCache((info) => seen.push(info))
  const expect = async (method: string, call: Promise<unknown>, returning: unknown) => {
    seen.length = 0
    assert.deepEqual(await call, returning, method)
    assert.ok(seen.length >= 1, `${method} reported`)
    assert.equal(seen[0]!.method, method)
    assert.deepEqual(seen[0]!.returning, returning, `${method} tells what it returned`)
    assert.ok(seen[0]!.exception instanceof ConnectionError)
  }
  await expect('read', cache.read('k'), undefined)
  await expect('exist', cache.exist('k'), false)
  await expect('write', cache.write('k', 1), false)
  await expect('delete', cache.delete('k'), false)
  await expect('readMulti', cache.readMulti(['a', 'b']), new Map())
  await expect('writeMulti', cache.writeMulti({ a: 1 }), false)
  await expect('deleteMulti', cache.deleteMulti(['a']), 0)
  await expect('increment', cache.increment('n'), undefined)
  await expect('decrement', cache.decrement('n'), undefined)
  await expect('deleteMatched', cache.deleteMatched('*'), 0)
  await expect('invalidateTag', cache.invalidateTag('t'), undefined)
  await expect('clear', cache.clear(), undefined)
  seen.length = 0
  assert.equal(await cache.fetch('k', () => 'computed'), 'computed', 'fetch with a compute still returns it')
  assert.equal(seen[0]?.method, 'fetch')
  assert.deepEqual(await cache.fetchMulti(['a'], {}, () => 'v'), new Map([['a', 'v']]))
  assert.equal(cache.stats().errors > 0, true)
})

test('failsafe: an increment whose outcome is unknown is reported, never repeated, and returns undefined', async () => {
  let sent = 0
  const ambiguous = new Proxy({} as CacheBackend, {
    get: () => async () => {
      sent++
      throw new TimeoutError('increment timed out')
    },
  })
  const seen: Failure[] = []
  const cache = new FleetCache(
    ctx,
    { namespace: `amb${++namespaces}`, errorHandler: (i) => seen.push(i) },
    {
      backend: ambiguous,
    },
  )
  assert.equal(await cache.increment('n'), undefined)
  assert.equal(sent, 1, 'sent once: repeating it could count twice')
  assert.equal((seen[0]!.exception as TimeoutError).outcome, 'unknown')
  sent = 0
  assert.equal(await cache.read('n'), undefined)
  assert.equal(sent, 3, 'a read repeats safely: retried per the default policy')
})

test('failsafe: a throwing errorHandler makes the call reject; programming errors are never absorbed', async () => {
  const cache = failingCache(({ exception }) => {
    throw exception
  })
  await assert.rejects(cache.read('k'), ConnectionError)
  const quiet = failingCache(() => {})
  await assert.rejects(quiet.write('k', undefined), TypeError)
  await assert.rejects(
    quiet.write('k', () => 1),
    SerializationError,
  )
})

test('globMatcher: Redis glob rules, whole-string match', () => {
  const cases: [string, string[], string[]][] = [
    ['*', ['a', 'a:b'], ['']], // as Redis: a star needs something to be matched against
    ['h?llo', ['hello', 'hallo'], ['hllo', 'heello']],
    ['h*llo', ['hllo', 'heeeello'], ['hello!']],
    ['h[ae]llo', ['hello', 'hallo'], ['hillo']],
    ['h[^e]llo', ['hallo', 'hbllo'], ['hello']],
    ['h[a-b]llo', ['hallo', 'hbllo'], ['hcllo']],
    ['a\\*b', ['a*b'], ['axb']],
    ['a.b', ['a.b'], ['axb']],
    ['(x)+', ['(x)+'], ['x', 'xx']],
  ]
  for (const [glob, matching, other] of cases) {
    for (const text of matching) assert.ok(globMatcher(glob)(text), `${glob} matches ${text}`)
    for (const text of other) assert.ok(!globMatcher(glob)(text), `${glob} does not match ${text}`)
  }
})

test('globMatcher: a pattern of many stars ends at once where a backtracking RegExp took forever', () => {
  // With a RegExp this took more than 20 s (each `*a` multiplied the time); Redis gives up early.
  assert.equal(globMatcher('*a*a*a*a*a*a*a*a*a*a*a*a*b')('a'.repeat(100)), false)
  assert.equal(globMatcher('*a*a*a*a*a*a*a*a*a*a*a*a*b')(`${'a'.repeat(100)}b`), true)
})
