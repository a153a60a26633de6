/// <reference types="node" preserve="true" />
// Kept in the published .d.ts, which use Node's types: TypeScript 7 loads no @types by itself.
/**
 * `redfleet/keyv`: a Keyv storage adapter over a redfleet cache, so `new Keyv({ store })`,
 * `cache-manager` and `cacheable` run on any redfleet topology (memory, standalone, sharded
 * ring, cluster) and get its failsafe, near cache, compression and per-node batching.
 *
 * Keyv hands the adapter keys already prefixed with its namespace (`keyv:foo`) and values it has
 * serialised itself; the adapter stores them as cache entries under the cache's namespace.
 */
import { EventEmitter } from 'node:events'
import { FleetCache } from '../cache/cache.ts'
import { absorbedFailures } from '../cache/failures.ts'
import { escapeGlob } from '../cache/glob.ts'
import { validateExpiry } from '../cache/options.ts'
import type { Cache } from '../index.ts'
import { describeValue, invalidArgument } from '../validate.ts'

/** The shape of a Keyv storage adapter (KeyvStoreAdapter in keyv 5), without depending on keyv. */
export interface KeyvStore extends EventEmitter {
  opts: { dialect: 'redfleet'; cache: Cache }
  /** Set by Keyv: its namespace, used by `clear()` to delete only Keyv's own keys. */
  namespace?: string | undefined
  /** Reject failed calls (after the 'error' event) instead of answering a miss / false. */
  throwOnErrors: boolean
  get<Value>(key: string): Promise<Value | undefined>
  set(key: string, value: unknown, ttl?: number): Promise<boolean>
  setMany(values: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void>
  delete(key: string): Promise<boolean>
  deleteMany(keys: string[]): Promise<boolean>
  clear(): Promise<void>
  has(key: string): Promise<boolean>
  hasMany(keys: string[]): Promise<boolean[]>
  getMany<Value>(keys: string[]): Promise<Array<Value | undefined>>
  disconnect(): Promise<void>
}

export interface KeyvStoreOptions {
  /** Reject a failed call with its error (after emitting 'error') instead of answering a miss / false; default false. */
  throwOnErrors?: boolean
}

/**
 * Wraps `cache` as a Keyv store. Commands: GET/SET PX/UNLINK per call; `getMany`/`setMany`/
 * `deleteMany` are one MGET/SET/UNLINK pipeline per node; `clear()` SCANs for Keyv's namespace
 * inside the cache namespace (never FLUSHDB).
 *
 * Failures follow Keyv's adapter contract (as @keyv/redis does): a Redis failure is emitted as
 * an 'error' event (Keyv re-emits it on itself, so `keyv.on('error')` hears it) and the call
 * answers a miss / false, or rejects with the error when `throwOnErrors` is set (so Keyv's own
 * `throwOnErrors` sees it). The cache's `errorHandler` is called as for any cache call.
 */
export function keyvStore(cache: Cache, options: KeyvStoreOptions = {}): KeyvStore {
  // Checked here: anything else would fail only at Keyv's first call, with a bare TypeError.
  if (!(cache instanceof FleetCache)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `keyvStore: the first argument must be a cache made by fleet.cache(), got ${describeValue(cache)}`,
    )
  }
  return new RedfleetKeyvStore(cache, options)
}

class RedfleetKeyvStore extends EventEmitter implements KeyvStore {
  readonly opts: { dialect: 'redfleet'; cache: Cache }
  namespace?: string | undefined
  throwOnErrors: boolean

  constructor(
    private readonly cache: Cache,
    options: KeyvStoreOptions,
  ) {
    super()
    this.opts = { dialect: 'redfleet', cache }
    this.throwOnErrors = options.throwOnErrors === true
  }

  /**
   * Runs one cache call, learning of the failures its failsafe absorbed. A failure is emitted
   * once; it rejects the call with `throwOnErrors`, and so does anything the cache itself threw
   * (use after close, an errorHandler that throws).
   */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    let failure: { error: unknown } | undefined
    let result: T
    try {
      result = await absorbedFailures.run((_method, error) => {
        failure ??= { error }
      }, fn)
    } catch (error) {
      this.#emitError(failure ? failure.error : error)
      throw error
    }
    if (failure) {
      this.#emitError(failure.error)
      if (this.throwOnErrors) throw failure.error
    }
    return result
  }

  /** Without a listener an EventEmitter throws on 'error': the errorHandler has reported it already. */
  #emitError(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }

  get<Value>(key: string): Promise<Value | undefined> {
    return this.#call(() => this.cache.read<Value>(key))
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    if (value === undefined) return this.#call(() => this.#nothing()).then(() => false)
    return this.#call(() => this.cache.write(key, value, expiryOf(ttl)))
  }

  async setMany(values: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    // One writeMulti (one pipeline per node) per distinct ttl.
    const byTtl = new Map<unknown, Map<string, unknown>>()
    for (const { key, value, ttl } of values) {
      if (value === undefined) continue
      const group = expiryOf(ttl).expiresIn
      let entries = byTtl.get(group)
      if (!entries) {
        entries = new Map()
        byTtl.set(group, entries)
      }
      entries.set(key, value)
    }
    if (byTtl.size === 0) return this.#call(() => this.#nothing())
    await this.#call(() => {
      // Every ttl is checked before anything is written: one refused stores none of the batch.
      for (const ttl of byTtl.keys()) validateExpiry(expiryOf(ttl), 'writeMulti')
      return Promise.all([...byTtl].map(([ttl, entries]) => this.cache.writeMulti(entries, expiryOf(ttl))))
    })
  }

  /**
   * A write of nothing (Keyv skips undefined values) still asks the cache, which sends nothing
   * but rejects ClosedError after close, as every other call of the adapter does.
   */
  async #nothing(): Promise<void> {
    await this.cache.writeMulti(new Map())
  }

  delete(key: string): Promise<boolean> {
    return this.#call(() => this.cache.delete(key))
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    return (await this.#call(() => this.cache.deleteMulti(keys))) > 0
  }

  clear(): Promise<void> {
    const namespace = this.namespace
    return this.#call(() =>
      namespace ? this.cache.deleteMatched(`${escapeGlob(namespace)}:*`).then(() => {}) : this.cache.clear(),
    )
  }

  has(key: string): Promise<boolean> {
    return this.#call(() => this.cache.exist(key))
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    const found = await this.#call(() => this.cache.readMulti(keys))
    return keys.map((key) => found.has(key))
  }

  async getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    const found = await this.#call(() => this.cache.readMulti(keys))
    return keys.map((key) => found.get(key) as Value | undefined)
  }

  /** The fleet belongs to the caller: closing it is theirs to do. */
  async disconnect(): Promise<void> {}
}

/**
 * The cache's write options for a Keyv `ttl`. As `@keyv/redis` takes it, none (undefined or
 * null, what Keyv passes for "no expiry"), 0, a negative one or NaN store without expiry; any
 * other value is the cache's `expiresIn`, which refuses what is not a positive number of
 * milliseconds (a string such as '1h', Infinity) with InvalidArgumentError: never an entry
 * stored without expiry in its place.
 */
function expiryOf(ttl: unknown): { expiresIn?: number } {
  if (ttl == null || (typeof ttl === 'number' && !(ttl > 0))) return {}
  return { expiresIn: ttl as number }
}
