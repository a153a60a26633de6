import { inspect } from 'node:util'
import type { FleetContext, OperationPolicy } from '../context.ts'
import { runOperation } from '../context.ts'
import { ClosedError, ConfigError, RedfleetError } from '../errors.ts'
import { OPERATIONS } from '../operations.ts'
import { resolveRetry } from '../retry.ts'
import type { CacheBackend, WriteItem } from './backend.ts'
import { type Clock, clockOf } from './clock.ts'
import {
  decodeEntry,
  type Entry,
  encodeEntry,
  entryValue,
  isExpired,
  isMismatched,
  type TagStamp,
  TEXT_MARKER,
} from './entry.ts'
import { type FillWaker, type Found, fillWithLock, pollingWaker, SingleFlight } from './fill.ts'
import { Instrument } from './instrument.ts'
import { expandKey, expandVersion, normalizeVersion, requestedVersion, truncateKey } from './keys.ts'
import { MemoryCacheBackend } from './memory.ts'
import type { NearCache } from './near.ts'
import {
  counterTtl,
  RACE_CONDITION_PADDING,
  resolveDefaults,
  type WriteDefaults,
  WriteSettings,
} from './options.ts'
import { RedisCacheBackend } from './redis.ts'
import type {
  Cache,
  CacheKey,
  CacheOptions,
  CacheStats,
  FetchOptions,
  ReadOptions,
  WriteOptions,
} from './types.ts'
import { encodeValue } from './values.ts'

/**
 * The versions a multi-key call asks for: one for every key (the `version` option), one per key
 * (keys with a `cacheVersion`), or none.
 */
type Versions = string | (string | undefined)[] | undefined

function versionAt(versions: Versions, i: number): string | undefined {
  return typeof versions === 'object' ? versions[i] : versions
}

/** What #readMany answers for a key it did not find (a cached value may be null, never this). */
const MISS: unique symbol = Symbol('miss')

type Compute<T> = (key: string, o: WriteOptions) => T | Promise<T>

/** A value ready to be put in an envelope: serialised once, before anything touches Redis. */
interface Prepared {
  raw: boolean
  text: string
  typed: boolean
}

/** Where one call's keys live: entries under `scope`, tag versions under `tagScope`. */
interface Scope {
  entries: string
  tags: string
}

export interface CacheParts {
  /** Wakes fill waiters across the fleet; polling when none is given. */
  waker?: FillWaker
  near?: NearCache
}

/**
 * The cache: key expansion, envelopes, exact expiry, versions, tags, race-condition TTL,
 * stampede protection and Rails' failsafe, over a backend that only moves bytes.
 *
 * Keys: entries `${fleet}:cache:[${namespace}:][@${tenant}:][v${modelVersion}:]${key}`; tag
 * versions `${fleet}:cache~tag:[${namespace}:][@${tenant}:]${tag}`; fill locks
 * `${fleet}:cache~lock:…`. Tags and locks sit beside the entries, not among them, so no user key
 * can collide with them and `clear`/`deleteMatched` never touch them.
 */
export class FleetCache implements Cache {
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  readonly #backend: CacheBackend
  readonly #defaults: WriteDefaults
  /** The defaults as write options, for calls without options (never given to a compute). */
  readonly #plain: WriteSettings
  readonly #base: string
  readonly #tagBase: string
  readonly #lockBase: string
  readonly #modelSegment: string
  readonly #tenant: (() => string | undefined) | undefined
  readonly #fixedScope: Scope | undefined
  readonly #maxKeySize: number | false
  readonly #lockTimeout: number
  readonly #errorHandler: NonNullable<CacheOptions['errorHandler']>
  readonly #flights = new SingleFlight()
  readonly #clock: Clock
  readonly #instrument: Instrument
  readonly #waker: FillWaker
  readonly #near: NearCache | undefined
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
    this.#ctx = ctx
    // Failures go to errorHandler (once, with what the call returns), not to the fleet's onError.
    this.#policy = { retry: resolveRetry(ctx.retry, options.retry), onError: () => {} }
    this.#backend =
      ctx.topology === 'memory'
        ? new MemoryCacheBackend(ctx.memory)
        : new RedisCacheBackend(() => ctx.redis())
    this.#defaults = resolveDefaults(options)
    this.#plain = new WriteSettings(this.#defaults, undefined, 'cache')
    const bases = keyBases(ctx, options)
    this.#base = bases.entries
    this.#tagBase = bases.tags
    this.#lockBase = bases.locks
    this.#modelSegment = modelSegment(options)
    this.#tenant = options.tenant
    const fixed = fixedEntryScope(ctx, options)
    this.#fixedScope = fixed === undefined ? undefined : { entries: fixed, tags: this.#tagBase }
    this.#maxKeySize = options.maxKeySize ?? 1024
    this.#lockTimeout = options.lockTimeout ?? 5000
    this.#errorHandler = options.errorHandler ?? defaultErrorHandler
    this.#clock = clockOf(options)
    this.#instrument = new Instrument(this.#base.slice(0, -1))
    this.#waker = parts.waker ?? pollingWaker
    this.#near = parts.near
  }

  // ---- keys -------------------------------------------------------------------------------

  #tenantSegment(op: string): string {
    if (!this.#tenant) return ''
    const tenant = this.#tenant()
    if (typeof tenant !== 'string' || tenant.length === 0) {
      throw new TypeError(`cache.${op}: this cache is tenant-scoped and tenant() returned no tenant`)
    }
    // Encoded so that a tenant can hold any character (':' or braces) without changing the key layout.
    return `@${encodeURIComponent(tenant)}:`
  }

  #scope(op: string): Scope {
    if (this.#fixedScope) return this.#fixedScope
    const tenant = this.#tenantSegment(op)
    return { entries: this.#base + tenant + this.#modelSegment, tags: this.#tagBase + tenant }
  }

  #full(scope: Scope, name: string): string {
    return truncateKey(scope.entries + name, scope.entries.length, this.#maxKeySize)
  }

  #lockKey(full: string): string {
    return this.#lockBase + full.slice(this.#ctx.keys.prefix.length)
  }

  // ---- plumbing ---------------------------------------------------------------------------

  /**
   * Runs one Redis call through the fleet's one operation runner (src/context.ts): refused on a
   * closed fleet, errors translated (naming the operation and key), transient failures retried
   * by what the operation is (an increment is never re-sent after an ambiguous failure).
   */
  #run<T>(op: string, name: string | undefined, fn: () => Promise<T>): Promise<T> {
    return runOperation(
      this.#ctx,
      this.#policy,
      OPS[op] ?? `cache.${op}`,
      name === undefined ? undefined : shorten(name),
      fn,
    )
  }

  /**
   * Rails' failsafe: a failure of Redis (connection, timeout, command error, a corrupt entry)
   * goes to errorHandler and the call returns `returning`. Programming errors (TypeError, a value
   * that cannot be serialised) and use after close still reject.
   */
  async #failsafe<T>(
    method: string,
    returning: T,
    fn: () => Promise<T>,
    reported: unknown = returning,
  ): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      this.#absorb(method, reported, error)
      return returning
    }
  }

  #absorb(method: string, returning: unknown, error: unknown): void {
    if (!(error instanceof RedfleetError) || error instanceof ClosedError) throw error
    this.#stats.errors++
    this.#errorHandler({ method, returning, exception: error })
  }

  // ---- entries ----------------------------------------------------------------------------

  /** The near cache's entry of a key, if it has one whose tags are current (counted as a hit). */
  #nearEntry(scope: Scope, name: string, full: string): Entry | undefined {
    if (!this.#near) return undefined
    const cached = this.#near.get(this.#nearKey(name, full))
    if (!cached || !this.#nearTagsCurrent(scope, cached)) return undefined
    this.#stats.nearHits++
    return cached
  }

  /**
   * The near cache's key of an entry. In a cache of one scope it is the key's name itself: the
   * full key is a fresh concatenation on every call, and hashing it for the lookup would cost a
   * near-cache hit more than everything else it does.
   */
  #nearKey(name: string, full: string): string {
    const prefix = this.#fixedScope?.entries
    if (prefix === undefined) return full
    // Too short to have been truncated (truncateKey's own cheap test): the name, no comparing.
    if (this.#maxKeySize === false || full.length * 3 <= this.#maxKeySize) return name
    // A key truncated for length has a hashed tail instead of the name.
    return full === prefix + name ? name : full.slice(prefix.length)
  }

  /** Reads and decodes one entry, checking its tags; expiry and version are the caller's. */
  #readEntry(op: string, scope: Scope, name: string, full: string): Promise<Entry | undefined> {
    const cached = this.#nearEntry(scope, name, full)
    return cached ? Promise.resolve(cached) : this.#readRemote(op, scope, name, full)
  }

  /**
   * #readEntry past the near cache (read and fetch look there first themselves, so that a hit
   * needs no async frame): from Redis, filling the near cache if there is one.
   */
  #readRemote(op: string, scope: Scope, name: string, full: string): Promise<Entry | undefined> {
    const near = this.#near
    if (near) {
      const nearKey = this.#nearKey(name, full)
      const ticket = near.begin(nearKey)
      if (ticket) return this.#readTracked(op, scope, name, full, nearKey, ticket)
    }
    return this.#fetchEntry(op, scope, name, full)
  }

  /** A read whose reply may fill the near cache, unless an invalidation overtook it. */
  async #readTracked(
    op: string,
    scope: Scope,
    name: string,
    full: string,
    nearKey: string,
    ticket: NonNullable<ReturnType<NearCache['begin']>>,
  ): Promise<Entry | undefined> {
    let entry: Entry | undefined
    try {
      entry = await this.#fetchEntry(op, scope, name, full)
    } finally {
      this.#near!.end(nearKey, ticket, entry)
    }
    return entry
  }

  async #fetchEntry(op: string, scope: Scope, name: string, full: string): Promise<Entry | undefined> {
    const bytes = await this.#run(op, name, () => this.#backend.get(full))
    if (bytes === null) return undefined
    const entry = decodeEntry(bytes)
    if (entry.tags && !(await this.#tagsCurrent(op, scope, entry.tags))) return undefined
    return entry
  }

  #nearTagsCurrent(scope: Scope, entry: Entry): boolean {
    if (!entry.tags) return true
    const versions = this.#near!.tagVersions(entry.tags.map((tag) => scope.tags + tag.name))
    if (versions === undefined) return false
    return entry.tags.every((tag, i) => versions[i] === tag.version)
  }

  async #tagVersions(op: string, scope: Scope, names: readonly string[]): Promise<number[]> {
    const keys = names.map((name) => scope.tags + name)
    const ticket = this.#near?.beginTags(keys)
    const stored = await this.#run(op, undefined, () => this.#backend.getMany(keys))
    const versions = stored.map((text) => (text === null ? 0 : Number(text)))
    if (ticket) this.#near!.endTags(keys, ticket, versions)
    return versions
  }

  async #tagsCurrent(op: string, scope: Scope, tags: readonly TagStamp[]): Promise<boolean> {
    const versions = await this.#tagVersions(
      op,
      scope,
      tags.map((tag) => tag.name),
    )
    return tags.every((tag, i) => versions[i] === tag.version)
  }

  #prepare(op: string, name: string, value: unknown, settings: WriteSettings): Prepared {
    if (value === undefined) {
      throw new TypeError(`cache.${op} '${shorten(name)}': undefined cannot be cached (use null, or delete)`)
    }
    if (settings.raw) {
      const text = rawString(op, name, value)
      // Such a string would read back as an envelope: refused, so reads are never ambiguous.
      if (text.startsWith(TEXT_MARKER)) {
        throw new TypeError(`cache.${op} '${shorten(name)}': a raw value may not start with "\\0rf"`)
      }
      return { raw: true, text, typed: false }
    }
    const { json, typed } = encodeValue(value, `cache.${op} '${shorten(name)}'`)
    return { raw: false, text: json, typed }
  }

  /** The envelope and Redis TTL of one write, at `now`; undefined if the expiry is already past. */
  #envelope(
    prepared: Prepared,
    settings: WriteSettings,
    version: string | undefined,
    stamps: TagStamp[] | undefined,
    op: string,
  ): { bytes: string; ttl: number | undefined } | undefined {
    const { expiresAt, ttl, expired } = settings.expiry(this.#clock(), op)
    if (expired) return undefined
    const entry: Entry = {
      raw: prepared.raw,
      text: prepared.text,
      typed: prepared.typed,
      expiresAt,
      version,
      tags: stamps,
    }
    return {
      bytes: encodeEntry(entry, { compress: settings.compress, threshold: settings.compressThreshold }),
      ttl,
    }
  }

  async #stamps(op: string, scope: Scope, settings: WriteSettings): Promise<TagStamp[] | undefined> {
    const names = settings.tags
    if (!names || names.length === 0 || settings.raw) return undefined
    const versions = await this.#tagVersions(op, scope, names)
    return names.map((name, i) => ({ name, version: versions[i]! }))
  }

  /** Writes one prepared value; false when unlessExist found a value or the expiry is past. */
  async #store(
    op: string,
    name: string,
    full: string,
    prepared: Prepared,
    settings: WriteSettings,
    version: string | undefined,
    stamps: TagStamp[] | undefined,
  ): Promise<boolean> {
    const envelope = this.#envelope(prepared, settings, version, stamps, op)
    if (!envelope) return false
    const { bytes, ttl } = envelope
    const written = await this.#run(op, name, () => this.#backend.set(full, bytes, ttl, settings.unlessExist))
    // Evicted after the acknowledgement, so a read that starts now goes to Redis for the new value.
    this.#near?.invalidate(full)
    if (written) this.#stats.writes++
    return written
  }

  // ---- public API -------------------------------------------------------------------------

  async read<T = unknown>(key: CacheKey, o?: ReadOptions): Promise<T | undefined> {
    const started = this.#instrument.start('read')
    const name = expandKey(key, 'read')
    const scope = this.#scope('read')
    const full = this.#full(scope, name)
    const version = requestedVersion(key, o?.version, 'read')
    let value: unknown
    try {
      // A near-cache hit is answered without waiting on a promise.
      const entry = this.#nearEntry(scope, name, full) ?? (await this.#readRemote('read', scope, name, full))
      value = this.#isLive(entry, version) ? entryValue(entry) : undefined
    } catch (error) {
      this.#absorb('read', undefined, error)
      value = undefined
    }
    // A cached value is never undefined (it cannot be written), so undefined is the miss.
    const hit = value !== undefined
    this.#count(hit)
    if (started !== undefined) this.#instrument.publish('read', started, { key: name, hit })
    return value as T | undefined
  }

  /** A live entry's value: present, not expired, not of another version, tags current. */
  async #readLive(
    op: string,
    scope: Scope,
    name: string,
    full: string,
    version: string | undefined,
  ): Promise<Found<unknown>> {
    const entry = await this.#readEntry(op, scope, name, full)
    return this.#isLive(entry, version) ? { value: entryValue(entry) } : undefined
  }

  /** Present, not expired, not of another version. The clock is read only for entries that expire. */
  #isLive(entry: Entry | undefined, version: string | undefined): entry is Entry {
    if (entry === undefined || isMismatched(entry, version)) return false
    return entry.expiresAt === undefined || !isExpired(entry, this.#clock())
  }

  #count(hit: boolean): void {
    if (hit) this.#stats.hits++
    else this.#stats.misses++
  }

  async write(key: CacheKey, value: unknown, o?: WriteOptions): Promise<boolean> {
    const started = this.#instrument.start('write')
    const name = expandKey(key, 'write')
    const scope = this.#scope('write')
    const full = this.#full(scope, name)
    const settings = o === undefined ? this.#plain : new WriteSettings(this.#defaults, o, 'write')
    const version = normalizeVersion(settings.version, 'write') ?? expandVersion(key)
    const prepared = this.#prepare('write', name, value, settings)
    if (settings.expiry(this.#clock(), 'write').expired) {
      throw new TypeError(`cache.write: cache expiration time is invalid, expiresAt is in the past`)
    }
    let written: boolean
    try {
      const stamps = settings.tags && !settings.raw ? await this.#stamps('write', scope, settings) : undefined
      written = await this.#store('write', name, full, prepared, settings, version, stamps)
    } catch (error) {
      this.#absorb('write', false, error)
      written = false
    }
    if (started !== undefined) this.#instrument.publish('write', started, { key: name })
    return written
  }

  fetch<T>(key: CacheKey, compute: Compute<T>): Promise<T>
  fetch<T>(key: CacheKey, o: FetchOptions, compute?: Compute<T>): Promise<T>
  async fetch<T>(key: CacheKey, a?: FetchOptions | Compute<T>, b?: Compute<T>): Promise<T> {
    const started = this.#instrument.start('fetch')
    const options = typeof a === 'function' ? undefined : a
    const compute = typeof a === 'function' ? a : b
    const name = expandKey(key, 'fetch')
    const scope = this.#scope('fetch')
    const full = this.#full(scope, name)
    // The shared defaults are only read here; a compute always gets a copy of its own.
    const settings = options === undefined ? this.#plain : new WriteSettings(this.#defaults, options, 'fetch')
    if (compute === undefined) {
      if (settings.force) {
        throw new TypeError(
          'cache.fetch: missing compute: calling fetch with force: true requires a compute function',
        )
      }
      return (await this.read(key, { version: settings.version })) as T
    }
    if (typeof compute !== 'function') throw new TypeError('cache.fetch: compute must be a function')
    const version = requestedVersion(key, settings.version, 'fetch')
    let hit = false
    let value: T
    if (settings.force) {
      value = await this.#computeAndStore(key, scope, name, full, settings, compute)
    } else {
      let entry: Entry | undefined
      let readFailed = false
      try {
        entry = this.#nearEntry(scope, name, full) ?? (await this.#readRemote('fetch', scope, name, full))
      } catch (error) {
        this.#absorb('fetch', undefined, error)
        // Redis is failing: compute without the fill lock (which would fail too) and return.
        readFailed = true
      }
      if (this.#isLive(entry, version)) {
        hit = true
        value = entryValue(entry) as T
      } else {
        const now = this.#clock()
        if (entry && isExpired(entry, now) && this.#withinRaceWindow(entry, settings, now)) {
          const stale = await this.#raceConditionFill(key, scope, name, full, entry, settings, compute, now)
          hit = stale.hit
          value = stale.value
        } else {
          value = await this.#flights.run(`${full}\u0000${version ?? ''}`, () =>
            this.#fill(key, scope, name, full, version, settings, compute, readFailed),
          )
        }
      }
    }
    this.#count(hit)
    this.#instrument.publish('fetch', started, { key: name, hit })
    return value
  }

  #withinRaceWindow(entry: Entry, settings: WriteSettings, now: number): boolean {
    const ttl = settings.raceConditionTtl
    return ttl !== undefined && ttl > 0 && now - entry.expiresAt! <= ttl
  }

  /**
   * Rails' race_condition_ttl: the first caller to find a value that expired less than
   * `raceConditionTtl` ago stores it again, alive for `raceConditionTtl` more, and regenerates;
   * everyone else keeps reading the stale value meanwhile. A compute that throws leaves the stale
   * value in place until that window ends. With the fill lock, a caller who finds the lock taken
   * (someone else is regenerating) serves the stale value instead of regenerating too.
   */
  async #raceConditionFill<T>(
    key: CacheKey,
    scope: Scope,
    name: string,
    full: string,
    entry: Entry,
    settings: WriteSettings,
    compute: Compute<T>,
    now: number,
  ): Promise<{ hit: boolean; value: T }> {
    const ttl = settings.raceConditionTtl!
    let token: string | undefined
    if (this.#lockTimeout > 0) {
      token = `rct-${process.pid}-${Math.random().toString(36).slice(2)}`
      const held = await this.#failsafe('fetch', true, () =>
        this.#run('fetch', name, () => this.#backend.lock(this.#lockKey(full), token!, this.#lockTimeout)),
      )
      if (!held) return { hit: true, value: entryValue(entry) as T }
    }
    try {
      const stale: Entry = { ...entry, expiresAt: now + ttl }
      const bytes = encodeEntry(stale, { compress: settings.compress, threshold: settings.compressThreshold })
      // Rails re-stores the stale entry for 2 x raceConditionTtl (plus the usual padding).
      const redisTtl = Math.ceil(2 * ttl) + RACE_CONDITION_PADDING
      await this.#failsafe('fetch', false, async () => {
        const done = await this.#run('fetch', name, () => this.#backend.set(full, bytes, redisTtl, false))
        this.#near?.invalidate(full)
        return done
      })
      return { hit: false, value: await this.#computeAndStore(key, scope, name, full, settings, compute) }
    } finally {
      if (token !== undefined) {
        await this.#backend.unlock(this.#lockKey(full), token).catch(() => {})
        await this.#waker.notify(full)
      }
    }
  }

  /** A miss: compute under the fleet-wide fill lock (or wait for its holder), store, return. */
  #fill<T>(
    key: CacheKey,
    scope: Scope,
    name: string,
    full: string,
    version: string | undefined,
    settings: WriteSettings,
    compute: Compute<T>,
    readFailed: boolean,
  ): Promise<T> {
    const fill = () => this.#computeAndStore(key, scope, name, full, settings, compute)
    if (this.#lockTimeout <= 0 || readFailed) return fill()
    const lockKey = this.#lockKey(full)
    return fillWithLock<T>({
      // Through #run: refused after close, errors translated (a closing fleet's are ClosedError).
      lock: (token) => this.#run('fetch', name, () => this.#backend.lock(lockKey, token, this.#lockTimeout)),
      unlock: (token) => this.#backend.unlock(lockKey, token),
      key: full,
      timeout: this.#lockTimeout,
      waker: this.#waker,
      signal: this.#ctx.lifecycle.signal,
      recheck: async () =>
        (await this.#failsafe('fetch', undefined, () =>
          this.#readLive('fetch', scope, name, full, version),
        )) as Found<T>,
      fill,
      report: (error) => this.#absorb('fetch', undefined, error),
    })
  }

  async #computeAndStore<T>(
    key: CacheKey,
    scope: Scope,
    name: string,
    full: string,
    shared: WriteSettings,
    compute: Compute<T>,
  ): Promise<T> {
    const settings = shared === this.#plain ? new WriteSettings(this.#defaults, undefined, 'fetch') : shared
    // Tag versions are read before computing: a tag invalidated while we compute must make
    // what we computed from older data a miss.
    const tagsBefore = settings.tags?.join('\u0000')
    const stampsBefore = tagsBefore === undefined ? undefined : await this.#stampsFailsafe(scope, settings)
    this.#stats.fills++
    const value = await compute(name, settings)
    if (value === undefined || (value === null && settings.skipNil)) return value
    const prepared = this.#prepare('fetch', name, value, settings)
    const version = normalizeVersion(settings.version, 'fetch') ?? expandVersion(key)
    await this.#failsafe('fetch', false, async () => {
      // The compute may have changed the tags: then their versions are read now.
      const same = stampsBefore !== undefined && settings.tags?.join('\u0000') === tagsBefore
      const stamps = same ? stampsBefore : await this.#stamps('fetch', scope, settings)
      return this.#store('fetch', name, full, prepared, settings, version, stamps)
    })
    return value
  }

  async #stampsFailsafe(scope: Scope, settings: WriteSettings): Promise<TagStamp[] | undefined> {
    return this.#failsafe('fetch', undefined, () => this.#stamps('fetch', scope, settings))
  }

  async exist(key: CacheKey, o?: { version?: string | number }): Promise<boolean> {
    const started = this.#instrument.start('exist')
    const name = expandKey(key, 'exist')
    const scope = this.#scope('exist')
    const full = this.#full(scope, name)
    const version = requestedVersion(key, o?.version, 'exist')
    const found = await this.#failsafe('exist', undefined, async () => {
      const entry = await this.#readEntry('exist', scope, name, full)
      return this.#isLive(entry, version) ? entry : undefined
    })
    this.#instrument.publish('exist', started, { key: name, hit: found !== undefined })
    return found !== undefined
  }

  async delete(key: CacheKey): Promise<boolean> {
    const started = this.#instrument.start('delete')
    const name = expandKey(key, 'delete')
    const full = this.#full(this.#scope('delete'), name)
    const deleted = await this.#failsafe('delete', false, async () => {
      const existed = await this.#run('delete', name, () => this.#backend.delete(full))
      this.#near?.invalidate(full)
      return existed
    })
    if (deleted) this.#stats.deletes++
    this.#instrument.publish('delete', started, { key: name })
    return deleted
  }

  async readMulti(keys: CacheKey[], o?: { version?: string | number }): Promise<Map<CacheKey, unknown>> {
    const started = this.#instrument.start('readMulti')
    assertArray(keys, 'readMulti')
    const result = new Map<CacheKey, unknown>()
    if (keys.length === 0) return result
    const { names, fulls, versions } = this.#many('readMulti', keys, o?.version)
    let values: unknown[]
    try {
      values = await this.#readMany('readMulti', this.#scope('readMulti'), names, fulls, versions)
    } catch (error) {
      this.#absorb('readMulti', new Map(), error)
      values = []
    }
    for (let i = 0; i < keys.length; i++) {
      if (values[i] !== MISS && values[i] !== undefined) result.set(keys[i]!, values[i])
    }
    this.#stats.hits += result.size
    this.#stats.misses += keys.length - result.size
    if (started !== undefined) {
      const hits = names.filter((_, i) => values[i] !== MISS && values[i] !== undefined)
      this.#instrument.publish('readMulti', started, { keys: names, hits })
    }
    return result
  }

  /** Names, full keys and requested versions of a multi-key call, in one pass. */
  #many(
    op: string,
    keys: readonly CacheKey[],
    version: unknown,
  ): { names: string[]; fulls: string[]; versions: Versions } {
    const scope = this.#scope(op)
    const explicit = normalizeVersion(version, op)
    const names = new Array<string>(keys.length)
    const fulls = new Array<string>(keys.length)
    // Only keys with a cacheVersion need a slot: plain keys make no array at all.
    let versions: Versions = explicit
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const name = expandKey(key, op)
      names[i] = name
      fulls[i] = this.#full(scope, name)
      if (explicit === undefined && typeof key === 'object') {
        const own = expandVersion(key)
        if (own !== undefined) {
          if (!Array.isArray(versions)) versions = new Array<string | undefined>(keys.length)
          versions[i] = own
        }
      }
    }
    return { names, fulls, versions }
  }

  /**
   * MGET (one per node), near cache first, then one more round trip for tags if any entry has
   * them. Returns each key's value, or MISS.
   */
  async #readMany(
    op: string,
    scope: Scope,
    names: readonly string[],
    fulls: readonly string[],
    versions: Versions,
  ): Promise<unknown[]> {
    const near = this.#near
    let entries: (Entry | undefined)[]
    if (near) {
      entries = new Array<Entry | undefined>(fulls.length)
      const missing: number[] = []
      for (let i = 0; i < fulls.length; i++) {
        const cached = this.#nearEntry(scope, names[i]!, fulls[i]!)
        if (cached) entries[i] = cached
        else missing.push(i)
      }
      if (missing.length > 0) {
        const fetched = await this.#fetchTracked(op, scope, near, missing, names, fulls)
        for (let n = 0; n < missing.length; n++) entries[missing[n]!] = fetched[n]
      }
    } else {
      // Nothing allocated before the reply: what a read holds while it waits, GC has to copy.
      entries = await this.#fetchMany(op, scope, fulls)
    }
    const now = this.#clock()
    return entries.map((entry, i) =>
      entry && !isExpired(entry, now) && !isMismatched(entry, versionAt(versions, i))
        ? entryValue(entry)
        : MISS,
    )
  }

  /** MGET per node, decoded, tags checked (one more round trip only if some entry has tags). */
  async #fetchMany(op: string, scope: Scope, keys: readonly string[]): Promise<(Entry | undefined)[]> {
    const stored = await this.#run(op, undefined, () => this.#backend.getMany(keys))
    let tagged = false
    const entries = stored.map((text) => {
      if (text === null) return undefined
      const entry = decodeEntry(text)
      if (entry.tags) tagged = true
      return entry
    })
    if (tagged) await this.#dropStaleTags(op, scope, entries)
    return entries
  }

  /** #fetchMany of the near-cache misses; replies no invalidation overtook fill the near cache. */
  async #fetchTracked(
    op: string,
    scope: Scope,
    near: NearCache,
    missing: readonly number[],
    names: readonly string[],
    fulls: readonly string[],
  ): Promise<(Entry | undefined)[]> {
    const nearKeys = missing.map((i) => this.#nearKey(names[i]!, fulls[i]!))
    const tickets = nearKeys.map((key) => near.begin(key))
    let fetched: (Entry | undefined)[] = []
    try {
      fetched = await this.#fetchMany(
        op,
        scope,
        missing.map((i) => fulls[i]!),
      )
      return fetched
    } finally {
      nearKeys.forEach((key, n) => {
        const ticket = tickets[n]
        if (ticket) near.end(key, ticket, fetched[n])
      })
    }
  }

  /** Replaces by undefined every entry whose tags were invalidated (one round trip for all tags). */
  async #dropStaleTags(op: string, scope: Scope, entries: (Entry | undefined)[]): Promise<void> {
    const names = [...new Set(entries.flatMap((entry) => entry?.tags?.map((tag) => tag.name) ?? []))]
    if (names.length === 0) return
    const versions = await this.#tagVersions(op, scope, names)
    const current = new Map(names.map((name, i) => [name, versions[i]]))
    entries.forEach((entry, i) => {
      if (entry?.tags?.some((tag) => current.get(tag.name) !== tag.version)) entries[i] = undefined
    })
  }

  async writeMulti(
    entries: Map<CacheKey, unknown> | Record<string, unknown>,
    o?: WriteOptions,
  ): Promise<boolean> {
    const started = this.#instrument.start('writeMulti')
    if (typeof entries !== 'object' || entries === null) {
      throw new TypeError('cache.writeMulti: entries must be a Map or an object')
    }
    const pairs: [CacheKey, unknown][] = entries instanceof Map ? [...entries] : Object.entries(entries)
    if (pairs.length === 0) return true
    const settings = o === undefined ? this.#plain : new WriteSettings(this.#defaults, o, 'writeMulti')
    if (settings.expiry(this.#clock(), 'writeMulti').expired) {
      throw new TypeError('cache.writeMulti: cache expiration time is invalid, expiresAt is in the past')
    }
    const scope = this.#scope('writeMulti')
    const explicit = normalizeVersion(settings.version, 'writeMulti')
    const items = pairs.map(([key, value]) => {
      const name = expandKey(key, 'writeMulti')
      return {
        name,
        full: this.#full(scope, name),
        prepared: this.#prepare('writeMulti', name, value, settings),
        version: explicit ?? expandVersion(key),
      }
    })
    const written = await this.#failsafe('writeMulti', false, () =>
      this.#storeMany('writeMulti', scope, items, settings),
    )
    this.#instrument.publish('writeMulti', started, { keys: items.map((item) => item.name) })
    return written
  }

  /** One pipeline of SETs per node for prepared values sharing one set of write options. */
  async #storeMany(
    op: string,
    scope: Scope,
    items: readonly { full: string; prepared: Prepared; version: string | undefined }[],
    settings: WriteSettings,
  ): Promise<boolean> {
    const stamps = await this.#stamps(op, scope, settings)
    const writes: WriteItem[] = []
    for (const item of items) {
      const envelope = this.#envelope(item.prepared, settings, item.version, stamps, op)
      if (envelope)
        writes.push({ key: item.full, value: envelope.bytes, ttl: envelope.ttl, nx: settings.unlessExist })
    }
    if (writes.length === 0) return true
    const results = await this.#run(op, undefined, () => this.#backend.setMany(writes))
    for (const write of writes) this.#near?.invalidate(write.key)
    this.#stats.writes += results.filter(Boolean).length
    return true
  }

  async fetchMulti<T>(
    keys: CacheKey[],
    o: FetchOptions,
    compute: (key: CacheKey) => T | Promise<T>,
  ): Promise<Map<CacheKey, T>> {
    const started = this.#instrument.start('fetchMulti')
    if (typeof compute !== 'function') {
      throw new TypeError('cache.fetchMulti: missing compute: fetchMulti requires a compute function')
    }
    assertArray(keys, 'fetchMulti')
    const settings = new WriteSettings(this.#defaults, o, 'fetchMulti')
    const result = new Map<CacheKey, T>()
    if (keys.length === 0) return result
    const scope = this.#scope('fetchMulti')
    const { names, fulls, versions } = this.#many('fetchMulti', keys, settings.version)
    const found = settings.force
      ? []
      : await this.#failsafe(
          'fetchMulti',
          [] as unknown[],
          () => this.#readMany('fetchMulti', scope, names, fulls, versions),
          new Map(),
        )
    const stamps = settings.tags ? await this.#stampsFailsafe(scope, settings) : undefined
    const misses: { full: string; prepared: Prepared; version: string | undefined }[] = []
    const hits: string[] = []
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (i < found.length && found[i] !== MISS) {
        result.set(key, found[i] as T)
        hits.push(names[i]!)
        continue
      }
      this.#stats.fills++
      const value = await compute(key)
      result.set(key, value)
      if (value === undefined || (value === null && settings.skipNil)) continue
      misses.push({
        full: fulls[i]!,
        prepared: this.#prepare('fetchMulti', names[i]!, value, settings),
        version: versionAt(versions, i),
      })
    }
    this.#stats.hits += hits.length
    this.#stats.misses += keys.length - hits.length
    if (misses.length > 0) {
      await this.#failsafe('fetchMulti', false, async () => {
        const writes: WriteItem[] = []
        for (const miss of misses) {
          const envelope = this.#envelope(
            miss.prepared,
            settings,
            miss.version,
            stamps ?? undefined,
            'fetchMulti',
          )
          if (envelope) {
            writes.push({
              key: miss.full,
              value: envelope.bytes,
              ttl: envelope.ttl,
              nx: settings.unlessExist,
            })
          }
        }
        if (writes.length === 0) return true
        const results = await this.#run('fetchMulti', undefined, () => this.#backend.setMany(writes))
        for (const write of writes) this.#near?.invalidate(write.key)
        this.#stats.writes += results.filter(Boolean).length
        return true
      })
    }
    this.#instrument.publish('fetchMulti', started, { keys: names, hits })
    return result
  }

  async deleteMulti(keys: CacheKey[]): Promise<number> {
    const started = this.#instrument.start('deleteMulti')
    assertArray(keys, 'deleteMulti')
    if (keys.length === 0) return 0
    const scope = this.#scope('deleteMulti')
    const names = keys.map((key) => expandKey(key, 'deleteMulti'))
    const fulls = names.map((name) => this.#full(scope, name))
    const count = await this.#failsafe('deleteMulti', 0, async () => {
      const removed = await this.#run('deleteMulti', undefined, () => this.#backend.deleteMany(fulls))
      for (const full of fulls) this.#near?.invalidate(full)
      return removed
    })
    this.#stats.deletes += count
    this.#instrument.publish('deleteMulti', started, { keys: names })
    return count
  }

  increment(key: CacheKey, by = 1, o?: { expiresIn?: number }): Promise<number | undefined> {
    return this.#increment('increment', key, by, o)
  }

  decrement(key: CacheKey, by = 1, o?: { expiresIn?: number }): Promise<number | undefined> {
    return this.#increment('decrement', key, -by, o, by)
  }

  async #increment(
    op: string,
    key: CacheKey,
    delta: number,
    o: { expiresIn?: number } | undefined,
    given = delta,
  ): Promise<number | undefined> {
    const started = this.#instrument.start(op)
    const name = expandKey(key, op)
    if (typeof given !== 'number' || !Number.isSafeInteger(given)) {
      throw new TypeError(`cache.${op}: by must be an integer, got ${String(given)}`)
    }
    const full = this.#full(this.#scope(op), name)
    const ttl = counterTtl(o?.expiresIn, this.#defaults.expiresIn, op)
    const value = await this.#failsafe(op, undefined, async () => {
      const next = await this.#run(op, name, () => this.#backend.increment(full, delta, ttl))
      this.#near?.invalidate(full)
      return next
    })
    this.#instrument.publish(op, started, { key: name })
    return value
  }

  async readCounter(key: CacheKey): Promise<number | undefined> {
    const value = await this.read(key, { raw: true })
    if (typeof value === 'number') return Math.trunc(value)
    if (typeof value !== 'string' || !/^\s*-?\d+/.test(value)) return undefined
    return Number.parseInt(value, 10)
  }

  async writeCounter(key: CacheKey, value: number, o?: { expiresIn?: number }): Promise<boolean> {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`cache.writeCounter: value must be a finite number, got ${String(value)}`)
    }
    return this.write(key, Math.trunc(value), {
      raw: true,
      ...(o?.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
    })
  }

  async deleteMatched(glob: string): Promise<number> {
    const started = this.#instrument.start('deleteMatched')
    if (typeof glob !== 'string') {
      throw new TypeError(`cache.deleteMatched: only Redis glob strings are supported: ${String(glob)}`)
    }
    const prefix = this.#scope('deleteMatched').entries
    const count = await this.#failsafe('deleteMatched', 0, async () => {
      const removed = await this.#run('deleteMatched', glob, () => this.#backend.deleteMatching(prefix, glob))
      this.#near?.clear()
      return removed
    })
    this.#stats.deletes += count
    this.#instrument.publish('deleteMatched', started, { key: glob })
    return count
  }

  async invalidateTag(tag: string): Promise<void> {
    const started = this.#instrument.start('invalidateTag')
    if (typeof tag !== 'string' || tag.length === 0) {
      throw new TypeError('cache.invalidateTag: tag must be a non-empty string')
    }
    const key = this.#scope('invalidateTag').tags + tag
    await this.#failsafe('invalidateTag', undefined, async () => {
      await this.#run('invalidateTag', tag, () => this.#backend.bump(key))
      this.#near?.invalidate(key)
    })
    this.#instrument.publish('invalidateTag', started, { key: tag })
  }

  async clear(): Promise<void> {
    const started = this.#instrument.start('clear')
    // Every model version of this namespace (and tenant): older versions are garbage anyway.
    const prefix = this.#base + this.#tenantSegment('clear')
    await this.#failsafe('clear', undefined, async () => {
      this.#stats.deletes += await this.#run('clear', undefined, () =>
        this.#backend.deleteMatching(prefix, '*'),
      )
      this.#near?.clear()
    })
    this.#instrument.publish('clear', started, {})
  }

  stats(): CacheStats {
    return { ...this.#stats }
  }
}

/** The runner's operation names (`cache.<method>`), made once rather than per call. */
const OPS: Record<string, string> = Object.fromEntries(
  Object.keys(OPERATIONS.cache).map((method) => [method, `cache.${method}`]),
)

function modelSegment(options: CacheOptions): string {
  return options.modelVersion === undefined ? '' : `v${options.modelVersion}:`
}

/**
 * Where every entry of a cache without a tenant lives (entries base plus model version);
 * undefined for a tenant cache, whose entries' scope depends on the tenant of each call.
 */
export function fixedEntryScope(ctx: FleetContext, options: CacheOptions): string | undefined {
  return options.tenant === undefined ? keyBases(ctx, options).entries + modelSegment(options) : undefined
}

/** Where a cache's keys live: entries, tag versions (both under the namespace option) and locks. */
export function keyBases(
  ctx: FleetContext,
  options: CacheOptions,
): { entries: string; tags: string; locks: string } {
  const ns = options.namespace === undefined ? '' : `${options.namespace}:`
  return {
    entries: ctx.keys.key('cache', '') + ns,
    tags: ctx.keys.key('cache~tag', '') + ns,
    locks: ctx.keys.key('cache~lock', ''),
  }
}

function defaultErrorHandler(info: { method: string; returning: unknown; exception: unknown }): void {
  const message = info.exception instanceof Error ? info.exception.message : String(info.exception)
  process.emitWarning(
    `redfleet cache.${info.method} failed, returned ${inspect(info.returning)}: ${message}`,
    'RedfleetWarning',
  )
}

function rawString(op: string, name: string, value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value)
    default:
      if (value === null) return ''
      throw new TypeError(
        `cache.${op} '${shorten(name)}': raw values must be strings, numbers or booleans, got ${typeof value}`,
      )
  }
}

function assertArray(keys: unknown, op: string): asserts keys is unknown[] {
  if (!Array.isArray(keys)) throw new TypeError(`cache.${op}: keys must be an array`)
}

/** Error messages name the key, but a 32 KB key would drown the message. */
function shorten(name: string): string {
  return name.length > 120 ? `${name.slice(0, 120)}…` : name
}

export function assertCacheOptions(options: unknown): asserts options is CacheOptions {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null)
    throw new ConfigError('cache options must be an object')
  const o = options as CacheOptions
  if (
    o.namespace !== undefined &&
    (typeof o.namespace !== 'string' || o.namespace === '' || /[{}\s]/.test(o.namespace))
  ) {
    throw new ConfigError('cache: namespace must be a non-empty string without spaces or braces')
  }
  if (
    o.modelVersion !== undefined &&
    (typeof o.modelVersion !== 'number' || !Number.isSafeInteger(o.modelVersion))
  ) {
    throw new ConfigError('cache: modelVersion must be an integer')
  }
  if (o.tenant !== undefined && typeof o.tenant !== 'function') {
    throw new ConfigError('cache: tenant must be a function returning the current tenant')
  }
  if (
    o.maxKeySize !== undefined &&
    o.maxKeySize !== false &&
    (typeof o.maxKeySize !== 'number' || !Number.isInteger(o.maxKeySize) || o.maxKeySize < 64)
  ) {
    throw new ConfigError('cache: maxKeySize must be an integer of at least 64 bytes, or false')
  }
  if (
    o.lockTimeout !== undefined &&
    (typeof o.lockTimeout !== 'number' || !Number.isFinite(o.lockTimeout) || o.lockTimeout < 0)
  ) {
    throw new ConfigError('cache: lockTimeout must be a non-negative number of ms')
  }
  if (o.errorHandler !== undefined && typeof o.errorHandler !== 'function') {
    throw new ConfigError('cache: errorHandler must be a function')
  }
  if (o.near !== undefined && o.near !== false) {
    if (typeof o.near !== 'object' || o.near === null || !Number.isInteger(o.near.max) || o.near.max < 1) {
      throw new ConfigError('cache: near must be false or { max: a positive integer }')
    }
  }
}
