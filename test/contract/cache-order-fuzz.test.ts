/**
 * The cache's call order (SPEC §2), randomised: batches of calls made at once, none awaited,
 * through two cache objects of one fleet, on a few keys, tags and counters. Each call's result is
 * checked against a model that applies the batch one call after another, in call order. Seeded:
 * a failure names its seed, round and the batch up to the failing call; FUZZ_SEED=n shifts every
 * seed by n, to explore further.
 *
 * A fetch's fill may or may not be stored (a later change of its key skips it): the model marks
 * such a key uncertain until a write or delete settles it, and accepts a fill or the model's value.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Cache, CacheOptions } from '../../src/index.ts'
import { forEachTopology } from '../harness/topologies.ts'
import { raise } from './cache-support.ts'

const KEYS = ['a0', 'a1', 'b0', 'b1']
const COUNTERS = ['c0', 'c1']
const TAGS = ['t0', 't1']
const ROUNDS = 30
const BATCH = 25

/** A deterministic generator (an LCG): the same seed makes the same calls. */
class Random {
  constructor(private seed: number) {}
  next(): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff
    return this.seed / 0x7fffffff
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)]!
  }
}

interface Entry {
  readonly value: string
  /** The tag versions the write stamped (the entry is gone once one moved on). */
  readonly stamps: ReadonlyMap<string, number> | undefined
}

/** The cache as one caller sees it when every call is applied in call order. */
class Model {
  readonly #entries = new Map<string, Entry>()
  readonly #counters = new Map<string, number>()
  readonly #versions = new Map(TAGS.map((tag) => [tag, 0]))
  /** Keys whose value depends on whether a fill was stored. */
  readonly #uncertain = new Set<string>()
  /**
   * Keys fetched in this batch: a later fetch of one may share the earlier one's compute (the
   * in-process stampede protection), whatever was done in between.
   */
  readonly #fetched = new Set<string>()

  /** A new batch: fetches from now on do not share a compute with the earlier ones. */
  nextBatch(): void {
    this.#fetched.clear()
  }

  value(key: string): string | undefined {
    const entry = this.#entries.get(key)
    if (entry?.stamps)
      for (const [tag, version] of entry.stamps) if (this.#versions.get(tag) !== version) return undefined
    return entry?.value
  }
  uncertain(key: string): boolean {
    return this.#uncertain.has(key)
  }
  /** What a fetch of `key` returns is uncertain: a fill may or may not be there, or be shared. */
  fetchUncertain(key: string): boolean {
    return this.#uncertain.has(key) || this.#fetched.has(key)
  }
  /** A fetch or fetchMulti of `key`: unless it found a value, what it fills may or may not stay. */
  fetched(key: string, forced = false): void {
    this.#fetched.add(key)
    if (forced || this.value(key) === undefined) this.#uncertain.add(key)
  }
  write(key: string, value: string, tags: readonly string[] | undefined): void {
    const stamps = tags && new Map(tags.map((tag) => [tag, this.#versions.get(tag)!]))
    this.#entries.set(key, { value, stamps })
    this.#uncertain.delete(key)
  }
  delete(key: string): boolean {
    this.#uncertain.delete(key)
    return this.#entries.delete(key)
  }
  deleteMatching(prefix: string): void {
    for (const key of [...this.#entries.keys(), ...this.#uncertain])
      if (key.startsWith(prefix)) this.delete(key)
  }
  counter(key: string): number | undefined {
    return this.#counters.get(key)
  }
  setCounter(key: string, value: number): number {
    this.#counters.set(key, value)
    return value
  }
  invalidate(tag: string): void {
    this.#versions.set(tag, this.#versions.get(tag)! + 1)
  }
  clear(): void {
    this.#entries.clear()
    this.#counters.clear()
    this.#uncertain.clear()
  }
}

interface Call {
  readonly what: string
  readonly result: Promise<unknown>
  /** Why the result is wrong, or undefined. */
  readonly check: (result: unknown) => string | undefined
}

/** A value as the model expects it: exactly, or when uncertain also a fill (F...) or nothing. */
function expectValue(expected: string | undefined, uncertain: boolean): (got: unknown) => string | undefined {
  return (got) => {
    if (got === expected) return undefined
    if (uncertain && (got === undefined || (typeof got === 'string' && got.startsWith('F')))) return undefined
    return `expected ${String(expected)}${uncertain ? ' or a fill' : ''}`
  }
}

function expectEqual(expected: unknown): (got: unknown) => string | undefined {
  return (got) => (got === expected ? undefined : `expected ${String(expected)}`)
}

/** Every key of a Map result checked against its own expectation. */
function expectMap(keys: readonly string[], checks: ((got: unknown) => string | undefined)[]) {
  return (got: unknown) => {
    for (let i = 0; i < keys.length; i++) {
      const why = checks[i]!((got as Map<string, unknown>).get(keys[i]!))
      if (why) return `${keys[i]}: ${why}`
    }
    return undefined
  }
}

/** One random call through `cache`, applied to `model` as made; `n` names its values. */
function randomCall(random: Random, cache: Cache, model: Model, n: number): Call {
  const key = random.pick(KEYS)
  const keys = [...new Set([key, random.pick(KEYS)])]
  const counter = random.pick(COUNTERS)
  const tags = random.next() < 0.4 ? [random.pick(TAGS)] : undefined
  const value = `v${n}`
  const op = random.pick(OPS)
  switch (op) {
    case 'read':
      return {
        what: `read ${key}`,
        result: cache.read(key),
        check: expectValue(model.value(key), model.uncertain(key)),
      }
    case 'exist': {
      const [found, uncertain] = [model.value(key) !== undefined, model.uncertain(key)]
      return {
        what: `exist ${key}`,
        result: cache.exist(key),
        check: (got) => (uncertain ? undefined : expectEqual(found)(got)),
      }
    }
    case 'readMulti':
      return {
        what: `readMulti ${keys}`,
        result: cache.readMulti(keys),
        check: expectMap(
          keys,
          keys.map((k) => expectValue(model.value(k), model.uncertain(k))),
        ),
      }
    case 'fetch': {
      const forced = random.next() < 0.2
      const [found, uncertain] = [model.value(key), model.fetchUncertain(key)]
      const fill = `F${value}`
      model.fetched(key, forced)
      const check = forced || found === undefined ? expectEqual(fill) : expectEqual(found)
      return {
        what: `fetch ${key}${forced ? ' (force)' : ''} tags=${tags}`,
        result: cache.fetch(key, { tags, force: forced }, () => fill),
        check: uncertain ? () => undefined : check,
      }
    }
    case 'fetchMulti': {
      const checks = keys.map((k) => {
        const [found, uncertain] = [model.value(k), model.fetchUncertain(k)]
        return uncertain ? () => undefined : expectEqual(found ?? `F${value}${k}`)
      })
      for (const k of keys) model.fetched(k)
      return {
        what: `fetchMulti ${keys} tags=${tags}`,
        result: cache.fetchMulti(keys, { tags }, (k) => `F${value}${String(k)}`),
        check: expectMap(keys, checks),
      }
    }
    case 'write':
      model.write(key, value, tags)
      return {
        what: `write ${key}=${value} tags=${tags}`,
        result: cache.write(key, value, { tags }),
        check: expectEqual(true),
      }
    case 'writeMulti':
      for (const k of keys) model.write(k, value, tags)
      return {
        what: `writeMulti ${keys}=${value} tags=${tags}`,
        result: cache.writeMulti(Object.fromEntries(keys.map((k) => [k, value])), { tags }),
        check: expectEqual(true),
      }
    case 'delete': {
      const uncertain = model.uncertain(key)
      const existed = model.delete(key)
      return {
        what: `delete ${key}`,
        result: cache.delete(key),
        check: uncertain ? () => undefined : expectEqual(existed),
      }
    }
    case 'deleteMulti': {
      const uncertain = keys.some((k) => model.uncertain(k))
      const count = keys.filter((k) => model.delete(k)).length
      return {
        what: `deleteMulti ${keys}`,
        result: cache.deleteMulti(keys),
        check: uncertain ? () => undefined : expectEqual(count),
      }
    }
    case 'increment': {
      const by = 1 + Math.floor(random.next() * 3)
      const expected = model.setCounter(counter, (model.counter(counter) ?? 0) + by)
      return {
        what: `increment ${counter} ${by}`,
        result: cache.increment(counter, by),
        check: expectEqual(expected),
      }
    }
    case 'readCounter':
      return {
        what: `readCounter ${counter}`,
        result: cache.readCounter(counter),
        check: expectEqual(model.counter(counter)),
      }
    case 'writeCounter': {
      const n2 = Math.floor(random.next() * 100)
      model.setCounter(counter, n2)
      return {
        what: `writeCounter ${counter}=${n2}`,
        result: cache.writeCounter(counter, n2),
        check: expectEqual(true),
      }
    }
    case 'invalidateTag': {
      const tag = random.pick(TAGS)
      model.invalidate(tag)
      return { what: `invalidateTag ${tag}`, result: cache.invalidateTag(tag), check: () => undefined }
    }
    case 'deleteMatched':
      model.deleteMatching('a')
      return { what: 'deleteMatched a*', result: cache.deleteMatched('a*'), check: () => undefined }
    default:
      model.clear()
      return { what: 'clear', result: cache.clear(), check: () => undefined }
  }
}

const OPS = [
  'read',
  'exist',
  'readMulti',
  'fetch',
  'fetchMulti',
  'write',
  'writeMulti',
  'delete',
  'deleteMulti',
  'increment',
  'readCounter',
  'writeCounter',
  'invalidateTag',
  'deleteMatched',
  'clear',
] as const

forEachTopology('Cache call order, randomised', (env) => {
  for (const pool of [1, 3])
    for (const near of [false, { max: 100 }] as const) {
      const seed = Number(process.env.FUZZ_SEED ?? 0) + 1 + pool * 10 + (near ? 1 : 0)
      test(`${ROUNDS} batches of ${BATCH} calls through two cache objects (pool ${pool}${near ? ', near cache' : ''}, seed ${seed})`, async () => {
        const fleet = await env.fleet({ pool: { size: pool } })
        const options: CacheOptions = { namespace: `fuzz-${seed}`, near, lockTimeout: 0, errorHandler: raise }
        const caches = [fleet.cache(options), fleet.cache(options)]
        await caches[0]!.clear()
        const random = new Random(seed)
        const model = new Model()
        let n = 0
        for (let round = 0; round < ROUNDS; round++) {
          model.nextBatch()
          const calls = Array.from({ length: BATCH }, () =>
            randomCall(random, random.pick(caches), model, ++n),
          )
          const results = await Promise.all(calls.map((call) => call.result))
          calls.forEach((call, i) => {
            const why = call.check(results[i])
            if (why === undefined) return
            const batch = calls.slice(0, i + 1).map((c) => c.what)
            assert.fail(
              `round ${round}, call ${i}: ${call.what} got ${String(results[i])}, ${why}\n  ${batch.join(' | ')}`,
            )
          })
        }
      })
    }
})
