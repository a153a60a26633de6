import { AsyncLocalStorage } from 'node:async_hooks'
import { ClosedError, ConnectionError, isTransient, TimeoutError } from '../errors.ts'
import type { CacheBackend } from './backend.ts'
import { type Entry, encodeEntry, entryValue, type TagStamp } from './entry.ts'
import { prepareValue } from './envelope.ts'
import type { Failsafe } from './failsafe.ts'
import { type FillWaker, type Found, fillWithLock, holdingLock, SingleFlight } from './fill.ts'
import { requestedVersion } from './keys.ts'
import { RACE_CONDITION_PADDING, type WriteDefaults, WriteSettings } from './options.ts'
import type { CallOrder, ChangeWatch } from './order.ts'
import type { EntryReader } from './reader.ts'
import type { RunCommand } from './run.ts'
import { type KeyScope, type Scope, shortName } from './scope.ts'
import type { CacheKey, CacheStats, WriteOptions } from './types.ts'
import { copyValue } from './values.ts'
import { type EntryWriter, UNSTAMPED } from './writer.ts'

export type Compute<T> = (key: string, o: WriteOptions) => T | Promise<T>

/**
 * The entries (full keys) whose fetch compute runs in the current async context, in every cache
 * of the process. A fetch of one of them made by that compute is part of it, as in Rails, not a
 * concurrent miss: joining the outer fill, or waiting for the fill lock the outer holds, would
 * wait for itself.
 */
const computing = new AsyncLocalStorage<ReadonlySet<string>>()

function computingToo(full: string): ReadonlySet<string> {
  return new Set(computing.getStore()).add(full)
}

/** One fetch of one key: what the coordinator needs to fill it. */
export interface FillRequest<T> {
  key: CacheKey
  scope: Scope
  name: string
  full: string
  settings: WriteSettings
  compute: Compute<T>
  /** Changes of the key made since the fetch was called: then its fill is not stored. */
  watch: ChangeWatch
}

export interface CoordinatorParts {
  backend: CacheBackend
  run: RunCommand
  failsafe: Failsafe
  reader: EntryReader
  writer: EntryWriter
  order: CallOrder
  keys: KeyScope
  waker: FillWaker
  signal: AbortSignal
  stats: CacheStats
  defaults: WriteDefaults
  /** The defaults as shared write settings: never handed to a compute, which gets a copy. */
  plain: WriteSettings
  lockTimeout: number
}

/**
 * What `fetch` does on a miss, Rails' behaviour plus stampede protection: concurrent misses of
 * one key in this process share one fill (single-flight); across the fleet one process computes
 * under the fill lock while the others wait and read its result (fill.ts); an entry that expired
 * less than `raceConditionTtl` ago is served stale to others while one caller regenerates it.
 */
export class FillCoordinator {
  readonly #o: CoordinatorParts
  readonly #flights: SingleFlight

  constructor(parts: CoordinatorParts) {
    this.#o = parts
    this.#flights = new SingleFlight(parts.signal)
  }

  /** A miss: compute under the fleet-wide fill lock (or wait for its holder), store, return. */
  miss<T>(request: FillRequest<T>, version: string | undefined, readFailed: boolean): Promise<T> {
    // A fetch made by the compute of its own key computes itself, neither joined nor locked.
    if (computing.getStore()?.has(request.full)) return this.computeAndStore(request)
    // Every read hands out a fresh copy (SPEC §3): so does a fill to those who joined it.
    const where = `cache.fetch '${shortName(request.name)}'`
    return this.#flights.run(
      `${request.full}\u0000${version ?? ''}`,
      () => this.#fillLocked(request, version, readFailed),
      (value) => copyValue(value, where) as T,
      () => request.watch.superseded(request.full),
      (reason) => new ClosedError(`${where}: the fleet is closed`, { cause: reason }),
    )
  }

  #fillLocked<T>(request: FillRequest<T>, version: string | undefined, readFailed: boolean): Promise<T> {
    const { run, backend, reader, failsafe, keys, lockTimeout } = this.#o
    const fill = () => this.computeAndStore(request)
    // Redis is failing: compute without the fill lock (which would fail too).
    if (lockTimeout <= 0 || readFailed) return fill()
    const { scope, name, full } = request
    const lockKey = keys.lockKey(full)
    return fillWithLock<T>({
      // Through the runner: refused after close, errors translated (a closing fleet's are ClosedError).
      lock: (token) => run('fetch', name, () => backend.lock(lockKey, token, lockTimeout)),
      unlock: (token) => backend.unlock(lockKey, token),
      key: full,
      timeout: lockTimeout,
      waker: this.#o.waker,
      signal: this.#o.signal,
      recheck: async () => {
        // A change made after the fetch was called is not the fetch's to return (SPEC §2): it
        // computes instead, and its fill is not stored.
        if (request.watch.superseded(full)) return undefined
        const entry = await reader.entry('fetch', scope, name, full)
        return (reader.isLive(entry, version) ? { value: entryValue(entry) } : undefined) as Found<T>
      },
      fill,
      report: (error) => failsafe.absorb('fetch', undefined, error),
      closed: (reason) =>
        new ClosedError(`cache.fetch '${shortName(name)}': the fleet is closed`, { cause: reason }),
      transient: waitsOut,
    })
  }

  /** True if `entry` expired less than `raceConditionTtl` ago (at `now`). */
  withinRaceWindow(entry: Entry, settings: WriteSettings, now: number): boolean {
    const ttl = settings.raceConditionTtl
    return ttl !== undefined && ttl > 0 && entry.expiresAt !== undefined && now - entry.expiresAt <= ttl
  }

  /**
   * Rails' race_condition_ttl: the first caller to find a value that expired less than
   * `raceConditionTtl` ago stores it again, alive for `raceConditionTtl` more, and regenerates;
   * everyone else keeps reading the stale value meanwhile. A compute that throws leaves the stale
   * value in place until that window ends. With the fill lock, a caller who finds the lock taken
   * (someone else is regenerating) serves the stale value instead of regenerating too.
   */
  async refreshStale<T>(
    request: FillRequest<T>,
    stale: Entry,
    now: number,
  ): Promise<{ hit: boolean; value: T }> {
    const { run, backend, failsafe, writer, keys, lockTimeout } = this.#o
    const { name, full, settings } = request
    const ttl = settings.raceConditionTtl!
    const refresh = async () => {
      const extended: Entry = { ...stale, expiresAt: now + ttl }
      const bytes = encodeEntry(extended, {
        compress: settings.compress,
        threshold: settings.compressThreshold,
      })
      // Rails re-stores the stale entry for 2 x raceConditionTtl (plus the usual padding).
      const redisTtl = Math.ceil(2 * ttl) + RACE_CONDITION_PADDING
      // A change made after the fetch was called is later than the stale value: it stays.
      if (!request.watch.superseded(full)) {
        await failsafe.guard('fetch', false, () =>
          writer.writeSealed('fetch', name, full, { bytes, ttl: redisTtl }),
        )
      }
      return { hit: false, value: await this.computeAndStore(request) }
    }
    if (lockTimeout <= 0) return refresh()
    const lockKey = keys.lockKey(full)
    const token = `rct-${process.pid}-${Math.random().toString(36).slice(2)}`
    const held = await failsafe.guard('fetch', true, () =>
      run('fetch', name, () => backend.lock(lockKey, token, lockTimeout)),
    )
    if (!held) return { hit: true, value: entryValue(stale) as T }
    const lock = {
      signal: this.#o.signal,
      unlock: () => backend.unlock(lockKey, token),
      notify: () => this.#o.waker.notify(full),
    }
    return holdingLock(lock, refresh)
  }

  /** Computes the value of a fetch and writes it (failsafe); returns it whatever the write did. */
  async computeAndStore<T>(request: FillRequest<T>): Promise<T> {
    const { failsafe, writer, stats, order } = this.#o
    const { key, scope, name, full, compute } = request
    const settings =
      request.settings === this.#o.plain
        ? new WriteSettings(this.#o.defaults, undefined, 'fetch')
        : request.settings
    // Tag versions are read before computing: a tag invalidated while we compute must make
    // what we computed from older data a miss.
    const tagsBefore = settings.tags?.join('\u0000')
    const stampsBefore =
      tagsBefore === undefined
        ? undefined
        : await failsafe.guard<TagStamp[] | undefined | typeof UNSTAMPED>(
            'fetch',
            UNSTAMPED,
            () => writer.stampsInOrder(order, 'fetch', scope, settings),
            undefined,
          )
    stats.fills++
    const value = await computing.run(computingToo(full), () => compute(name, settings))
    if (value === undefined || (value === null && settings.skipNil)) return value
    const prepared = prepareValue('fetch', name, value, settings)
    const version = requestedVersion(key, settings.version, 'fetch')
    // Without the versions from before the compute, none read after it may stamp it: an
    // invalidation made during the compute would not make it a miss (helper-297).
    if (stampsBefore === UNSTAMPED) return value
    await failsafe.guard('fetch', false, async () => {
      // The compute may have changed the tags: then their versions are read now.
      const same = stampsBefore !== undefined && settings.tags?.join('\u0000') === tagsBefore
      const stamps = same ? stampsBefore : await writer.stampsInOrder(order, 'fetch', scope, settings)
      return this.#store(request, () =>
        writer.writeOne('fetch', name, full, prepared, settings, version, stamps, scope),
      )
    })
    return value
  }

  /**
   * A fill's write, in call order: skipped when a change of the key was made after the fetch (SPEC
   * §2: that later call's effect must win), else after the calls made before the fetch that are
   * still on their way. Never after a call made later, so a compute that uses the key cannot
   * leave the fetch waiting for itself.
   */
  #store<T>(request: FillRequest<T>, write: () => Promise<boolean>): Promise<boolean> {
    const { order } = this.#o
    const { full, watch } = request
    if (watch.superseded(full)) return Promise.resolve(false)
    return order.changeAfter([full], order.beforeFill([full]), write)
  }
}

/**
 * Failures a fill-lock waiter rides out until its deadline: anything that may pass by itself,
 * including a node known to be down (a failover is under way).
 */
function waitsOut(error: unknown): boolean {
  return error instanceof ConnectionError || error instanceof TimeoutError || isTransient(error)
}
