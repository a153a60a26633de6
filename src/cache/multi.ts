import type { OpenTrace } from '../telemetry.ts'
import { assertCallOptions, describeValue, invalidArgument, isPlainObject } from '../validate.ts'
import type { Clock } from './clock.ts'
import { type Entry, isExpired, isMismatched, type TagStamp } from './entry.ts'
import { prepareValue } from './envelope.ts'
import type { Failsafe } from './failsafe.ts'
import { note } from './instrument.ts'
import { expandKey, expandVersion, normalizeVersion } from './keys.ts'
import { type WriteDefaults, WriteSettings } from './options.ts'
import { type CallOrder, type ChangeWatch, NONE } from './order.ts'
import type { EntryReader } from './reader.ts'
import type { CacheMethod } from './run.ts'
import { type KeyScope, type Scope, tagKeys } from './scope.ts'
import type { CacheKey, CacheStats, FetchOptions, WriteOptions } from './types.ts'
import { type EntryWriter, isStamped, type PendingWrite, UNSTAMPED } from './writer.ts'

/**
 * The versions a multi-key call asks for: one for every key (the `version` option), one per key
 * (keys with a `cacheVersion`), or none.
 */
type Versions = string | (string | undefined)[] | undefined

function versionAt(versions: Versions, i: number): string | undefined {
  return typeof versions === 'object' ? versions[i] : versions
}

/** What a multi-key read answers for a key it did not find (a cached value may be null, never this). */
const MISS: unique symbol = Symbol('miss')

/** Names, full keys and requested versions of a multi-key call. */
interface ManyKeys {
  scope: Scope
  names: string[]
  fulls: string[]
  versions: Versions
}

export interface MultiKeyParts {
  keys: KeyScope
  reader: EntryReader
  writer: EntryWriter
  failsafe: Failsafe
  order: CallOrder
  clock: Clock
  stats: CacheStats
  defaults: WriteDefaults
  plain: WriteSettings
  /** The fleet's: a call with nothing to send still refuses once it is closed. */
  lifecycle: { readonly closed: boolean; refused(op: string): Promise<never> }
}

/**
 * The multi-key methods: one MGET, one pipeline of SETs or of UNLINKs per node (per slot on a
 * cluster), never one round trip per key, on every topology (SPEC §3).
 */
export class MultiKey {
  readonly #o: MultiKeyParts

  constructor(parts: MultiKeyParts) {
    this.#o = parts
  }

  async readMulti(
    keys: CacheKey[],
    o: { version?: string | number } | undefined,
    trace: OpenTrace | undefined,
  ): Promise<Map<CacheKey, unknown>> {
    const { failsafe, stats } = this.#o
    assertArray(keys, 'readMulti')
    const result = new Map<CacheKey, unknown>()
    if (keys.length === 0) return this.#nothingToDo('readMulti', result)
    assertCallOptions(o, 'cache.readMulti', ['version'])
    const many = this.#many('readMulti', keys, o?.version)
    note(trace, { keys: many.names })
    // Which keys the near cache answered, only for a traced call (its `nearHits`).
    const fromNear = trace === undefined ? undefined : new Array<boolean>(keys.length).fill(false)
    let values: unknown[]
    try {
      values = await this.#orderedValues('readMulti', many, fromNear)
    } catch (error) {
      failsafe.absorb('readMulti', new Map(), error)
      values = []
    }
    for (let i = 0; i < keys.length; i++) {
      if (values[i] !== MISS && values[i] !== undefined) result.set(keys[i]!, values[i])
    }
    stats.hits += result.size
    stats.misses += keys.length - result.size
    if (trace !== undefined) {
      const hit = (i: number) => values[i] !== MISS && values[i] !== undefined
      const hits = many.names.filter((_, i) => hit(i))
      const nearHits = many.names.reduce((n, _, i) => (hit(i) && fromNear![i] ? n + 1 : n), 0)
      note(trace, { hits, nearHits })
    }
    return result
  }

  async writeMulti(
    entries: Map<CacheKey, unknown> | Record<string, unknown>,
    o: WriteOptions | undefined,
    trace: OpenTrace | undefined,
  ): Promise<boolean> {
    const { keys, writer, failsafe, order, clock, defaults, plain } = this.#o
    if (!(entries instanceof Map) && !isPlainObject(entries)) {
      // An array of [key, value] pairs (store.setMany's form) would be written under "0", "1", ...
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.writeMulti: entries must be a Map or a plain object, got ${describeValue(entries)}` +
          (Array.isArray(entries) ? ' (for [key, value] pairs, pass new Map(pairs))' : ''),
      )
    }
    const pairs: [CacheKey, unknown][] = entries instanceof Map ? [...entries] : Object.entries(entries)
    if (pairs.length === 0) return this.#nothingToDo('writeMulti', true)
    const settings = o === undefined ? plain : new WriteSettings(defaults, o, 'writeMulti')
    settings.assertNotPast(clock(), 'writeMulti')
    const scope = keys.of('writeMulti')
    const explicit = normalizeVersion(settings.version, 'writeMulti')
    const names = pairs.map(([key]) => expandKey(key, 'writeMulti'))
    note(trace, { keys: names })
    const items = pairs.map(([key, value], i): PendingWrite => {
      const name = names[i]!
      return {
        name,
        full: keys.full(scope, name),
        prepared: prepareValue('writeMulti', name, value, settings),
        version: explicit ?? expandVersion(key, 'writeMulti'),
      }
    })
    const fulls = items.map((item) => item.full)
    // A tagged write reads its tags' versions first: a later invalidateTag of one waits for it.
    const tags = isStamped(settings) ? tagKeys(scope, settings.tags!) : []
    const before = order.before(tags, fulls)
    const writing = order.changeMany(fulls, (written, overtaken) =>
      failsafe.guard('writeMulti', false, async () => {
        if (before) await before
        const stamping = writer.stamps('writeMulti', scope, settings)
        const stamps = stamping && (await stamping)
        await writer.writeMany('writeMulti', items, settings, stamps, scope, written, overtaken)
        return true
      }),
    )
    const tracked = tags.length === 0 ? writing : order.trackRead(tags, writing)
    // It may write again after its replies, over entries their tags invalidated (Writer): an
    // invalidateTag made after it waits for it, as for a read.
    return settings.unlessExist ? order.trackTagRead(tracked) : tracked
  }

  async fetchMulti<T>(
    keys: CacheKey[],
    o: FetchOptions,
    compute: (key: CacheKey) => T | Promise<T>,
    trace: OpenTrace | undefined,
  ): Promise<Map<CacheKey, T>> {
    const { failsafe, order, defaults, clock } = this.#o
    if (typeof compute !== 'function') {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        'cache.fetchMulti: missing compute: fetchMulti requires a compute function',
      )
    }
    assertArray(keys, 'fetchMulti')
    const settings = new WriteSettings(defaults, o, 'fetchMulti')
    settings.assertNotPast(clock(), 'fetchMulti')
    const result = new Map<CacheKey, T>()
    if (keys.length === 0) return this.#nothingToDo('fetchMulti', result)
    const many = this.#many('fetchMulti', keys, settings.version)
    note(trace, { keys: many.names })
    const { fulls } = many
    // From its call on: a change of a key made after this fetchMulti makes that key's fill stale.
    const tags = settings.tags === undefined ? NONE : tagKeys(many.scope, settings.tags)
    const watch = order.watch(fulls, tags)
    // Which keys the near cache answered, only for a traced call (its `nearHits`).
    const fromNear = trace === undefined ? undefined : new Array<boolean>(keys.length).fill(false)
    try {
      const found = settings.force
        ? []
        : await failsafe.guard(
            'fetchMulti',
            [] as unknown[],
            () => this.#orderedValues('fetchMulti', many, fromNear),
            new Map(),
          )
      return await this.#fill(keys, many, found, settings, compute, watch, trace, fromNear)
    } finally {
      order.unwatch(fulls, watch, tags)
    }
  }

  /** fetchMulti's misses: computed in input order, stored with one writeMany (but stale fills). */
  async #fill<T>(
    keys: CacheKey[],
    many: ManyKeys,
    found: unknown[],
    settings: WriteSettings,
    compute: (key: CacheKey) => T | Promise<T>,
    watch: ChangeWatch,
    trace: OpenTrace | undefined,
    fromNear: boolean[] | undefined,
  ): Promise<Map<CacheKey, T>> {
    const { writer, failsafe, order, stats } = this.#o
    const { scope, names, fulls, versions } = many
    const result = new Map<CacheKey, T>()
    const stamps = settings.tags
      ? await failsafe.guard<TagStamp[] | undefined | typeof UNSTAMPED>(
          'fetchMulti',
          UNSTAMPED,
          async () => writer.stampsInOrder(order, 'fetchMulti', scope, settings),
          undefined,
        )
      : undefined
    const misses: PendingWrite[] = []
    const hits: string[] = []
    let nearHits = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (i < found.length && found[i] !== MISS) {
        result.set(key, found[i] as T)
        hits.push(names[i]!)
        if (fromNear?.[i]) nearHits++
        continue
      }
      stats.fills++
      const value = await compute(key)
      result.set(key, value)
      if (value === undefined || (value === null && settings.skipNil)) continue
      misses.push({
        name: names[i]!,
        full: fulls[i]!,
        prepared: prepareValue('fetchMulti', names[i]!, value, settings),
        version: versionAt(versions, i),
      })
    }
    stats.hits += hits.length
    stats.misses += keys.length - hits.length
    // A change of a key made after this call wins over its fill: that key is not stored.
    const fresh = misses.filter((miss) => !watch.superseded(miss.full))
    // Without its tags' versions (their node unreachable) a fill is not stored, as fetch's is
    // not: an entry without them would outlive invalidateTag.
    if (fresh.length > 0 && stamps !== UNSTAMPED) {
      const storing = fresh.map((miss) => miss.full)
      const before = order.beforeFill(storing)
      await order.changeMany(storing, (written, overtaken) =>
        failsafe.guard('fetchMulti', false, async () => {
          if (before) await before
          await writer.writeMany('fetchMulti', fresh, settings, stamps, scope, written, overtaken)
          return true
        }),
      )
    }
    note(trace, { hits, nearHits })
    return result
  }

  async deleteMulti(keys: CacheKey[], trace: OpenTrace | undefined): Promise<number> {
    const { writer, failsafe, order } = this.#o
    assertArray(keys, 'deleteMulti')
    if (keys.length === 0) return this.#nothingToDo('deleteMulti', 0)
    const scope = this.#o.keys.of('deleteMulti')
    // Array.from, not map: a hole in the array is a key like any other (undefined: refused).
    const names = Array.from(keys, (key) => expandKey(key, 'deleteMulti'))
    note(trace, { keys: names })
    const fulls = names.map((name) => this.#o.keys.full(scope, name))
    const before = order.before(NONE, fulls)
    return order.changeMany(fulls, (written, overtaken) =>
      failsafe.guard('deleteMulti', 0, async () => {
        if (before) await before
        return writer.removeMany('deleteMulti', fulls, written, overtaken)
      }),
    )
  }

  /** What a call with nothing to send answers, unless the fleet is closed: every call refuses then. */
  #nothingToDo<T>(method: CacheMethod, answer: T): Promise<T> {
    const { lifecycle } = this.#o
    return lifecycle.closed ? lifecycle.refused(`cache.${method}`) : Promise.resolve(answer)
  }

  /** Names, full keys and requested versions of a multi-key call, in one pass. */
  #many(method: CacheMethod, keys: readonly CacheKey[], version: unknown): ManyKeys {
    const scope = this.#o.keys.of(method)
    const explicit = normalizeVersion(version, method)
    const names = new Array<string>(keys.length)
    const fulls = new Array<string>(keys.length)
    // Only keys with a cacheVersion need a slot: plain keys make no array at all.
    let versions: Versions = explicit
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const name = expandKey(key, method)
      names[i] = name
      fulls[i] = this.#o.keys.full(scope, name)
      if (explicit === undefined && typeof key === 'object') {
        const own = expandVersion(key, method)
        if (own !== undefined) {
          if (!Array.isArray(versions)) versions = new Array<string | undefined>(keys.length)
          versions[i] = own
        }
      }
    }
    return { scope, names, fulls, versions }
  }

  /**
   * Each key's live value, or MISS, read after earlier changes of the keys still on their way.
   * When it is not sent at once (it waits for them, or is grouped per node first), it is
   * tracked, so a later change of a key waits for it.
   */
  #orderedValues(method: CacheMethod, many: ManyKeys, fromNear?: boolean[]): Promise<unknown[]> {
    const { order, reader } = this.#o
    const before = order.before(many.fulls, NONE)
    const counted = order.readStarted()
    // Sent at once (one server): a later call goes out after it on the connection by itself.
    if (before === undefined && reader.readsManyAtOnce()) return this.#values(method, many, counted, fromNear)
    const reading =
      before === undefined
        ? this.#values(method, many, counted, fromNear)
        : before.then(() => this.#values(method, many, counted, fromNear))
    return order.trackRead(many.fulls, reading)
  }

  /**
   * Each key's live value, or MISS; ends `counted` (CallOrder.readStarted) once read. `fromNear`:
   * see EntryReader.loadMany.
   */
  async #values(
    method: CacheMethod,
    many: ManyKeys,
    counted: { end(): unknown },
    fromNear?: boolean[],
  ): Promise<unknown[]> {
    const versionOf = (i: number) => versionAt(many.versions, i)
    let entries: (Entry | undefined)[]
    try {
      entries = await this.#o.reader.loadMany(method, many.scope, many.names, many.fulls, versionOf, fromNear)
    } finally {
      counted.end()
    }
    const now = this.#o.clock()
    const reader = this.#o.reader
    return entries.map((entry, i) => {
      if (entry === undefined) return MISS
      const live = !isExpired(entry, now) && !isMismatched(entry, versionOf(i))
      return reader.valueOf(method, many.names[i]!, entry, live, MISS)
    })
  }
}

export function assertArray(keys: unknown, method: string): asserts keys is unknown[] {
  if (!Array.isArray(keys)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${method}: keys must be an array, got ${describeValue(keys)}`,
    )
  }
}
