import type { FleetContext } from '../context.ts'
import type { OpenTrace } from '../telemetry.ts'
import {
  assertBooleanOption,
  assertCallOptions,
  assertFunction,
  invalidArgument,
  isWellFormed,
  LONE_SURROGATE,
} from '../validate.ts'
import type { CacheBackend } from './backend.ts'
import { type Clock, clockOf } from './clock.ts'
import { type Compute, FillCoordinator, type FillRequest } from './coordinator.ts'
import { Counters } from './counters.ts'
import { type Entry, entryValue, isExpired } from './entry.ts'
import { prepareValue } from './envelope.ts'
import { Failsafe } from './failsafe.ts'
import type { FillWaker } from './fill.ts'
import { Instrument, note } from './instrument.ts'
import { expandKey, requestedVersion } from './keys.ts'
import { MemoryCacheBackend } from './memory.ts'
import { MultiKey } from './multi.ts'
import type { NearCache } from './near.ts'
import { ownEviction } from './near-caches.ts'
import { resolveDefaults, type WriteDefaults, WriteSettings } from './options.ts'
import { both, type CallOrder, NONE } from './order.ts'
import { EntryReader } from './reader.ts'
import { RedisCacheBackend } from './redis.ts'
import { type CacheMethod, cacheRunner, type RunCommand } from './run.ts'
import { KeyScope, type Scope, tagKey, tagKeys } from './scope.ts'
import type {
  Cache,
  CacheKey,
  CacheOptions,
  CacheStats,
  FetchOptions,
  ReadOptions,
  WriteOptions,
} from './types.ts'
import { PubSubWaker } from './waker.ts'
import { EntryWriter, isStamped } from './writer.ts'

export interface CacheParts {
  /** Wakes fill waiters across the fleet; by default fill notifications over the fleet's pub/sub. */
  waker?: FillWaker
  near?: NearCache
  /** Where entries are kept; by default the fleet's memory or Redis (for tests: a fake). */
  backend?: CacheBackend
}

/**
 * The cache (SPEC §3): Rails' RedisCacheStore behaviour over a backend that only moves bytes.
 * This facade checks each call's arguments and hands it to the module that does that job:
 * scope.ts (where keys live), envelope.ts/entry.ts (what is stored), reader.ts and writer.ts
 * (the one read path and the one write path, near cache included), coordinator.ts (a fetch's
 * miss: single-flight, fill lock, race TTL), multi.ts, counters.ts, failsafe.ts (Rails'
 * errorHandler) and order.ts (per-key call order).
 */
export class FleetCache implements Cache {
  readonly #keys: KeyScope
  readonly #defaults: WriteDefaults
  /** The defaults as write options, for calls without options (never given to a compute). */
  readonly #plain: WriteSettings
  readonly #clock: Clock
  readonly #instrument: Instrument
  readonly #failsafe: Failsafe
  /** The fleet's (FleetContext.order): shared by every cache made from it. */
  readonly #order: CallOrder
  readonly #reader: EntryReader
  readonly #writer: EntryWriter
  readonly #fills: FillCoordinator
  readonly #multi: MultiKey
  readonly #counters: Counters
  readonly #run: RunCommand
  readonly #backend: CacheBackend
  readonly #near: NearCache | undefined
  /** What a clear or deleteMatched empties: every near cache of the fleet on Redis, else its own. */
  readonly #nearAll: { clear(): void } | undefined
  /** The one scope of a cache without tenants (undefined with tenants: each call has its own). */
  readonly #fixed: Scope | undefined
  readonly #stats: CacheStats = {
    hits: 0,
    misses: 0,
    writes: 0,
    deletes: 0,
    nearHits: 0,
    errors: 0,
    fills: 0,
  }

  constructor(ctx: FleetContext, options: CacheOptions, parts: CacheParts = {}) {
    this.#order = ctx.order.cache
    const stats = this.#stats
    const backend =
      parts.backend ??
      (ctx.topology === 'memory'
        ? new MemoryCacheBackend(ctx.memory)
        : new RedisCacheBackend(ctx.redisHandle))
    const near = parts.near
    const keys = new KeyScope(ctx, options)
    const run = cacheRunner(ctx, options)
    const clock = clockOf(options)
    const defaults = resolveDefaults(options)
    const plain = new WriteSettings(defaults, undefined, 'cache')
    const failsafe = new Failsafe(options.errorHandler, stats, ctx.warnings)
    const instrument = new Instrument(keys.namespace, ctx.topology)
    const reader = new EntryReader({
      backend,
      run,
      keys,
      near,
      clock,
      stats,
      corrupt: (method, error) => failsafe.absorb(method, undefined, error),
    })
    // What a change evicts and a clear empties: the fleet's near caches on Redis (a change: those
    // that may hold its key), else its own.
    const nearAll = ctx.topology === 'memory' ? near : ctx.nearCaches
    const eviction =
      ctx.topology === 'memory' ? near && ownEviction(near) : ctx.nearCaches.evictionFor(keys.base)
    const writer = new EntryWriter({ backend, run, reader, near: eviction, clock, stats })
    const order = this.#order
    this.#keys = keys
    this.#defaults = defaults
    this.#plain = plain
    this.#clock = clock
    this.#instrument = instrument
    this.#failsafe = failsafe
    this.#reader = reader
    this.#writer = writer
    this.#run = run
    this.#backend = backend
    this.#near = near
    this.#nearAll = nearAll
    this.#fixed = options.tenant === undefined ? keys.of('read') : undefined
    this.#fills = new FillCoordinator({
      backend,
      run,
      failsafe,
      reader,
      writer,
      order,
      keys,
      // One channel per fleet namespace, subscribed on the first fill that may wait.
      waker:
        parts.waker ?? new PubSubWaker(() => ctx.subscriber(), ctx.keys.key('cache~fill'), ctx.lifecycle),
      signal: ctx.lifecycle.signal,
      stats,
      defaults,
      plain,
      lockTimeout: options.lockTimeout ?? 5000,
    })
    this.#multi = new MultiKey({
      keys,
      reader,
      writer,
      failsafe,
      order,
      clock,
      stats,
      defaults,
      plain,
      lifecycle: ctx.lifecycle,
    })
    this.#counters = new Counters({ backend, run, keys, writer, failsafe, order, defaults })
  }

  read<T = unknown>(key: CacheKey, o?: ReadOptions): Promise<T | undefined> {
    if (this.#instrument.quiet('read')) {
      const kept = this.#nearRead(key, o)
      return kept === undefined ? this.#read<T>('read', undefined, key, o) : Promise.resolve(kept as T)
    }
    return this.#instrument.call('read', (trace) => this.#read<T>('read', trace, key, o))
  }

  /**
   * An untraced read (or fetch) answered by the near cache, synchronously: the value, counted as
   * `#read` and `#fetch` count a hit, or undefined, having counted nothing, whenever they have
   * anything to do (a key or version that is not a plain string, a tenant scope, a call on the
   * key still on its way, no live entry, a value that fails to decode). One plain promise, no
   * async function, no closure; `#read` and `#fetch` stay the one path of everything else.
   */
  #nearRead(key: CacheKey, o: ReadOptions | undefined): unknown {
    const scope = this.#fixed
    if (scope === undefined || this.#near === undefined || typeof key !== 'string' || key === '')
      return undefined
    let version: string | undefined
    // null and any other option (a mistyped one) are #read's to refuse.
    if (o !== undefined && (o === null || !onlyVersion(o))) return undefined
    const asked = o?.version
    if (typeof asked === 'string') version = asked
    else if (typeof asked === 'number') version = String(asked)
    else if (asked !== undefined && asked !== null) return undefined
    const full = this.#keys.full(scope, key)
    if (this.#order.beforeRead(full) !== undefined) return undefined
    const entry = this.#reader.peek(scope, key, full)
    if (entry === undefined || !this.#reader.isLive(entry, version)) return undefined
    let value: unknown
    try {
      value = entryValue(entry)
    } catch {
      // #read decodes it again and reports it.
      return undefined
    }
    this.#stats.nearHits++
    this.#stats.hits++
    return value
  }

  /** A read, as `method` (read, readCounter, fetch without a compute), noted on `trace`. */
  async #read<T>(
    method: CacheMethod,
    trace: OpenTrace | undefined,
    key: CacheKey,
    o: ReadOptions | undefined,
  ): Promise<T | undefined> {
    const name = expandKey(key, method)
    note(trace, { key: name })
    if (o !== undefined) {
      assertCallOptions(o, `cache.${method}`, READ_OPTIONS)
      // Read as stored whatever it says (an entry knows whether it is raw), but checked as write's is.
      assertBooleanOption(o.raw, 'raw', `cache.${method}`)
    }
    const scope = this.#keys.of(method)
    const full = this.#keys.full(scope, name)
    const version = requestedVersion(key, o?.version, method)
    let value: unknown
    let near = false
    const reading = this.#order.readStarted()
    try {
      const before = this.#order.beforeRead(full)
      let entry: Entry | undefined
      if (before === undefined) {
        // A near-cache hit is answered without waiting on a promise.
        const kept = this.#reader.cached(scope, name, full, version)
        near = kept !== undefined
        entry = kept ?? (await this.#reader.load(method, scope, name, full))
      } else {
        entry = await this.#order.readAfter(full, before, () => {
          const kept = this.#reader.cached(scope, name, full, version)
          near = kept !== undefined
          return kept ? Promise.resolve(kept) : this.#reader.load(method, scope, name, full)
        })
      }
      value = this.#reader.isLive(entry, version) ? entryValue(entry) : undefined
    } catch (error) {
      this.#failsafe.absorb(method, undefined, error)
      value = undefined
    } finally {
      reading.end()
    }
    // A cached value is never undefined (it cannot be written), so undefined is the miss.
    const hit = value !== undefined
    this.#count(hit)
    note(trace, { hit, near: hit && near })
    return value as T | undefined
  }

  #count(hit: boolean): void {
    if (hit) this.#stats.hits++
    else this.#stats.misses++
  }

  write(key: CacheKey, value: unknown, o?: FetchOptions): Promise<boolean> {
    return this.#instrument.call('write', (trace) => this.#write('write', trace, key, value, o))
  }

  /**
   * A write, as `method` (write, writeCounter), noted on `trace`. Not an async function: a write
   * is the cache's hot path and each async layer costs a promise and microtask turns per call;
   * a bad argument still rejects rather than throws.
   */
  #write(
    method: CacheMethod,
    trace: OpenTrace | undefined,
    key: CacheKey,
    value: unknown,
    o: WriteOptions | undefined,
  ): Promise<boolean> {
    let writing: Promise<boolean>
    try {
      const name = expandKey(key, method)
      note(trace, { key: name })
      writing = this.#send(method, key, name, value, o)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#failsafe.guard(method, false, () => writing)
  }

  /** Sends a write of `value` under `name` (`key` expanded): at once, or after the calls on its key before it. */
  #send(
    method: CacheMethod,
    key: CacheKey,
    name: string,
    value: unknown,
    o: WriteOptions | undefined,
  ): Promise<boolean> {
    const scope = this.#keys.of(method)
    const full = this.#keys.full(scope, name)
    const settings = o === undefined ? this.#plain : new WriteSettings(this.#defaults, o, method)
    const version = requestedVersion(key, settings.version, method)
    const prepared = prepareValue(method, name, value, settings)
    settings.assertNotPast(this.#clock(), method)
    if (!isStamped(settings) && !settings.unlessExist) {
      // The hot path, kept as one expression: with the unlessExist branch's locals beside it, plain
      // writes ran at about half the rate (helper-203; in memory, 0.95M vs 1.8M writes/s).
      return this.#order.changeAfter([full], this.#order.beforeChange(full), () =>
        this.#writer.writeOne(method, name, full, prepared, settings, version, undefined, scope),
      )
    }
    if (!isStamped(settings)) {
      // One that finds an entry may write again after its reply, over an entry its tags
      // invalidated (Writer): a change of its key until it settles, and a read of tag versions.
      const before = this.#order.beforeChange(full)
      const write = () =>
        this.#writer.writeOne(method, name, full, prepared, settings, version, undefined, scope)
      return this.#order.trackTagRead(this.#order.trackChange([full], before ? before.then(write) : write()))
    }
    // It reads its tags' versions first: a later invalidateTag of one waits for it.
    const tags = tagKeys(scope, settings.tags!)
    const before = this.#order.before(tags, [full])
    const writing = (async () => {
      if (before) await before
      const stamps = await this.#writer.stamps(method, scope, settings)
      return this.#writer.writeOne(method, name, full, prepared, settings, version, stamps, scope)
    })()
    const tracked = this.#order.trackRead(tags, this.#order.trackChange([full], writing))
    return settings.unlessExist ? this.#order.trackTagRead(tracked) : tracked
  }

  fetch<T>(key: CacheKey, compute: Compute<T>): Promise<T>
  fetch<T>(key: CacheKey, o: FetchOptions, compute?: Compute<T>): Promise<T>
  fetch<T>(key: CacheKey, a?: FetchOptions | Compute<T>, b?: Compute<T>): Promise<T> {
    // fetch(key, compute), untraced: a near hit is answered as read answers one.
    if (typeof a === 'function' && this.#instrument.quiet('fetch')) {
      const kept = this.#nearRead(key, undefined)
      return kept === undefined ? this.#fetch(undefined, key, a, b) : Promise.resolve(kept as T)
    }
    return this.#instrument.call('fetch', (trace) => this.#fetch(trace, key, a, b))
  }

  async #fetch<T>(
    trace: OpenTrace | undefined,
    key: CacheKey,
    a: FetchOptions | Compute<T> | undefined,
    b: Compute<T> | undefined,
  ): Promise<T> {
    const options = typeof a === 'function' ? undefined : a
    const compute = typeof a === 'function' ? a : b
    const name = expandKey(key, 'fetch')
    note(trace, { key: name })
    const scope = this.#keys.of('fetch')
    const full = this.#keys.full(scope, name)
    // The shared defaults are only read here; a compute always gets a copy of its own.
    const settings = options === undefined ? this.#plain : new WriteSettings(this.#defaults, options, 'fetch')
    // As write refuses it (and Rails' fetch): a fill the compute makes slow is another matter.
    if (options !== undefined) settings.assertNotPast(this.#clock(), 'fetch')
    if (compute === undefined) {
      if (settings.force) {
        throw invalidArgument(
          'ERR_INVALID_ARGUMENT',
          'cache.fetch: missing compute: calling fetch with force: true requires a compute function',
        )
      }
      // A plain read, traced and its failures reported as this fetch.
      return (await this.#read('fetch', trace, key, { version: settings.version })) as T
    }
    assertFunction(compute, 'compute', 'cache.fetch')
    const version = requestedVersion(key, settings.version, 'fetch')
    // From its call on: a change of the key (or an invalidation of its tags) made after this
    // fetch makes its fill stale.
    const keys = [full]
    const tags = settings.tags === undefined ? NONE : tagKeys(scope, settings.tags)
    const watch = this.#order.watch(keys, tags)
    try {
      const request = (): FillRequest<T> => ({ key, scope, name, full, settings, compute, watch })
      const { hit, near, value } = await this.#fetchOrFill(request, version)
      this.#count(hit)
      note(trace, { hit, near })
      return value
    } finally {
      this.#order.unwatch(keys, watch, tags)
    }
  }

  /** A fetch with a compute: its read, then on a miss (or with force) its fill. */
  async #fetchOrFill<T>(
    request: () => FillRequest<T>,
    version: string | undefined,
  ): Promise<{ hit: boolean; near: boolean; value: T }> {
    const { scope, name, full, settings } = request()
    let hit = false
    let near = false
    let value: T
    if (settings.force) {
      value = await this.#fills.computeAndStore(request())
    } else {
      let entry: Entry | undefined
      let readFailed = false
      const reading = this.#order.readStarted()
      try {
        const before = this.#order.beforeRead(full)
        if (before === undefined) {
          // A near-cache hit is answered without waiting on a promise.
          const kept = this.#reader.cached(scope, name, full, version)
          near = kept !== undefined
          entry = kept ?? (await this.#reader.load('fetch', scope, name, full))
        } else {
          entry = await this.#order.readAfter(full, before, () => {
            const kept = this.#reader.cached(scope, name, full, version)
            near = kept !== undefined
            return kept ? Promise.resolve(kept) : this.#reader.load('fetch', scope, name, full)
          })
        }
      } catch (error) {
        this.#failsafe.absorb('fetch', undefined, error)
        // Redis is failing: compute without the fill lock (which would fail too) and return.
        readFailed = true
      } finally {
        reading.end()
      }
      if (this.#reader.isLive(entry, version)) {
        hit = true
        value = entryValue(entry) as T
      } else {
        const now = this.#clock()
        if (entry && isExpired(entry, now) && this.#fills.withinRaceWindow(entry, settings, now)) {
          const stale = await this.#fills.refreshStale(request(), entry, now)
          hit = stale.hit
          value = stale.value
        } else {
          value = await this.#fills.miss(request(), version, readFailed)
        }
      }
    }
    // As #read notes it: a hit the near cache answered (an entry it kept, live or served stale).
    return { hit, near: hit && near, value }
  }

  exist(key: CacheKey, o?: { version?: string | number }): Promise<boolean> {
    return this.#instrument.call('exist', (trace) => this.#exist(trace, key, o))
  }

  async #exist(
    trace: OpenTrace | undefined,
    key: CacheKey,
    o: { version?: string | number } | undefined,
  ): Promise<boolean> {
    const name = expandKey(key, 'exist')
    note(trace, { key: name })
    assertCallOptions(o, 'cache.exist', ['version'])
    const scope = this.#keys.of('exist')
    const full = this.#keys.full(scope, name)
    const version = requestedVersion(key, o?.version, 'exist')
    const reading = this.#order.readStarted()
    const found = await this.#failsafe
      .guard('exist', false, async () => {
        const before = this.#order.beforeRead(full)
        const read = () => this.#reader.entry('exist', scope, name, full)
        const entry = await (before === undefined ? read() : this.#order.readAfter(full, before, read))
        return this.#reader.isLive(entry, version)
      })
      .finally(() => reading.end())
    note(trace, { hit: found })
    return found
  }

  delete(key: CacheKey): Promise<boolean> {
    return this.#instrument.call('delete', (trace) => this.#delete(trace, key))
  }

  async #delete(trace: OpenTrace | undefined, key: CacheKey): Promise<boolean> {
    const name = expandKey(key, 'delete')
    note(trace, { key: name })
    const full = this.#keys.full(this.#keys.of('delete'), name)
    const deleting = this.#order.changeAfter([full], this.#order.beforeChange(full), () =>
      this.#writer.remove('delete', name, full),
    )
    return this.#failsafe.guard('delete', false, () => deleting)
  }

  readMulti(keys: CacheKey[], o?: { version?: string | number }): Promise<Map<CacheKey, unknown>> {
    return this.#instrument.call('readMulti', (trace) => this.#multi.readMulti(keys, o, trace))
  }

  writeMulti(entries: Map<CacheKey, unknown> | Record<string, unknown>, o?: FetchOptions): Promise<boolean> {
    return this.#instrument.call('writeMulti', (trace) => this.#multi.writeMulti(entries, o, trace))
  }

  fetchMulti<T>(
    keys: CacheKey[],
    o: FetchOptions,
    compute: (key: CacheKey) => T | Promise<T>,
  ): Promise<Map<CacheKey, T>> {
    return this.#instrument.call('fetchMulti', (trace) => this.#multi.fetchMulti(keys, o, compute, trace))
  }

  deleteMulti(keys: CacheKey[]): Promise<number> {
    return this.#instrument.call('deleteMulti', (trace) => this.#multi.deleteMulti(keys, trace))
  }

  increment(key: CacheKey, by = 1, o?: { expiresIn?: number }): Promise<number | undefined> {
    return this.#instrument.call('increment', (trace) => this.#counters.add('increment', key, by, o, trace))
  }

  decrement(key: CacheKey, by = 1, o?: { expiresIn?: number }): Promise<number | undefined> {
    return this.#instrument.call('decrement', (trace) => this.#counters.add('decrement', key, by, o, trace))
  }

  readCounter(key: CacheKey): Promise<number | undefined> {
    return this.#instrument.call('readCounter', (trace) =>
      Counters.read((k) => this.#read('readCounter', trace, k, undefined), key),
    )
  }

  writeCounter(key: CacheKey, value: number, o?: { expiresIn?: number }): Promise<boolean> {
    return this.#instrument.call('writeCounter', (trace) =>
      Counters.write((k, v, w) => this.#write('writeCounter', trace, k, v, w), key, value, o),
    )
  }

  deleteMatched(glob: string): Promise<number> {
    return this.#instrument.call('deleteMatched', (trace) => this.#deleteMatched(trace, glob))
  }

  async #deleteMatched(trace: OpenTrace | undefined, glob: string): Promise<number> {
    if (typeof glob !== 'string') {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.deleteMatched: only Redis glob strings are supported: ${String(glob)}`,
      )
    }
    // Redis would match U+FFFD in its place: the keys of other names.
    if (!isWellFormed(glob)) {
      throw invalidArgument('ERR_INVALID_ARGUMENT', `cache.deleteMatched: the glob ${LONE_SURROGATE}`)
    }
    note(trace, { key: glob })
    const prefix = this.#keys.of('deleteMatched').entries
    const count = await this.#failsafe.guard('deleteMatched', 0, () =>
      this.#order.changeAll(async () => {
        this.#nearAll?.clear()
        // Counted over every walk: one repeated after a failover mid-walk (the runner's retry)
        // finds gone what the first removed (helper-294: 496 of 1,500 told).
        let removed = 0
        await this.#run('deleteMatched', glob, () =>
          this.#backend.deleteMatching(prefix, glob, this.#keys.othersInScope(), (count) => {
            removed += count
          }),
        )
        this.#nearAll?.clear()
        return removed
      }),
    )
    this.#stats.deletes += count
    return count
  }

  invalidateTag(tag: string): Promise<void> {
    return this.#instrument.call('invalidateTag', (trace) => this.#invalidateTag(trace, tag))
  }

  async #invalidateTag(trace: OpenTrace | undefined, tag: string): Promise<void> {
    if (typeof tag !== 'string' || tag.length === 0) {
      throw invalidArgument('ERR_INVALID_ARGUMENT', 'cache.invalidateTag: tag must be a non-empty string')
    }
    if (!isWellFormed(tag))
      throw invalidArgument('ERR_INVALID_ARGUMENT', `cache.invalidateTag: tag ${LONE_SURROGATE}`)
    note(trace, { key: tag })
    const key = tagKey(this.#keys.of('invalidateTag'), tag)
    // After every earlier call that reads this tag's version: a tagged write stamps the version
    // from before this invalidation, so its entry is invalidated too; a read (of any key: its
    // entry's tags are known from its reply) checks the version it stamped.
    const before = both(this.#order.beforeChange(key), this.#order.beforeInvalidation())
    await this.#failsafe.guard('invalidateTag', undefined, () =>
      this.#order.invalidationAfter(key, before, () => this.#bump(tag, key)),
    )
  }

  /** INCR of a tag's version, evicting this process's near copy of it. */
  async #bump(tag: string, key: string): Promise<void> {
    this.#writer.evictTag(key)
    await this.#run('invalidateTag', tag, () => this.#backend.bump(key))
    this.#writer.evictTag(key)
  }

  clear(): Promise<void> {
    return this.#instrument.call('clear', (trace) => this.#clear(trace))
  }

  async #clear(trace: OpenTrace | undefined): Promise<void> {
    // Every model version of this namespace (and tenant): older versions are garbage anyway.
    const prefix = this.#keys.allVersions('clear')
    await this.#failsafe.guard('clear', undefined, () =>
      this.#order.changeAll(async () => {
        this.#nearAll?.clear()
        await this.#run('clear', undefined, () =>
          this.#backend.deleteMatching(prefix, '*', this.#keys.othersUnderAllVersions(), (count) => {
            this.#stats.deletes += count
          }),
        )
        this.#nearAll?.clear()
      }),
    )
    note(trace, {})
  }

  stats(): CacheStats {
    return { ...this.#stats }
  }
}

/** The options a read takes (SPEC §3). */
const READ_OPTIONS = ['version', 'raw'] as const

/** Read options that name at most a version: what the near cache answers by itself. */
function onlyVersion(o: object): boolean {
  for (const name in o) if (name !== 'version' || !Object.hasOwn(o, name)) return false
  return true
}
