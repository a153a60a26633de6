/**
 * `redfleet/keyv`: a Keyv storage adapter over a redfleet cache, so `new Keyv({ store })`,
 * `cache-manager` and `cacheable` run on any redfleet topology (memory, standalone, sharded
 * ring, cluster) and get its failsafe, near cache, compression and per-node batching.
 *
 * Keyv hands the adapter keys already prefixed with its namespace (`keyv:foo`) and values it has
 * serialised itself; the adapter stores them as cache entries under the cache's namespace.
 */
import { EventEmitter } from 'node:events'
import { escapeGlob } from '../cache/glob.ts'
import type { Cache } from '../index.ts'

/** The shape of a Keyv storage adapter (KeyvStoreAdapter in keyv 5), without depending on keyv. */
export interface KeyvStore extends EventEmitter {
  opts: { dialect: 'redfleet'; cache: Cache }
  /** Set by Keyv: its namespace, used by `clear()` to delete only Keyv's own keys. */
  namespace?: string | undefined
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

/**
 * Wraps `cache` as a Keyv store. Commands: GET/SET PX/UNLINK per call; `getMany`/`setMany`/
 * `deleteMany` are one MGET/SET/UNLINK pipeline per node; `clear()` SCANs for Keyv's namespace
 * inside the cache namespace (never FLUSHDB). A Redis failure follows the cache's `errorHandler`
 * (by default: a warning, and the call answers a miss / false).
 */
export function keyvStore(cache: Cache): KeyvStore {
  return new RedfleetKeyvStore(cache)
}

class RedfleetKeyvStore extends EventEmitter implements KeyvStore {
  readonly opts: { dialect: 'redfleet'; cache: Cache }
  namespace?: string | undefined

  constructor(private readonly cache: Cache) {
    super()
    this.opts = { dialect: 'redfleet', cache }
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    return this.cache.read<Value>(key)
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    if (value === undefined) return false
    // Keyv passes 0 or undefined for "no expiry".
    return this.cache.write(key, value, ttl !== undefined && ttl > 0 ? { expiresIn: ttl } : {})
  }

  async setMany(values: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    // One writeMulti (one pipeline per node) per distinct ttl.
    const byTtl = new Map<number, Map<string, unknown>>()
    for (const { key, value, ttl } of values) {
      if (value === undefined) continue
      const group = ttl !== undefined && ttl > 0 ? ttl : 0
      let entries = byTtl.get(group)
      if (!entries) {
        entries = new Map()
        byTtl.set(group, entries)
      }
      entries.set(key, value)
    }
    await Promise.all(
      [...byTtl].map(([ttl, entries]) => this.cache.writeMulti(entries, ttl > 0 ? { expiresIn: ttl } : {})),
    )
  }

  delete(key: string): Promise<boolean> {
    return this.cache.delete(key)
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    return (await this.cache.deleteMulti(keys)) > 0
  }

  async clear(): Promise<void> {
    if (this.namespace) await this.cache.deleteMatched(`${escapeGlob(this.namespace)}:*`)
    else await this.cache.clear()
  }

  has(key: string): Promise<boolean> {
    return this.cache.exist(key)
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    const found = await this.cache.readMulti(keys)
    return keys.map((key) => found.has(key))
  }

  async getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    const found = await this.cache.readMulti(keys)
    return keys.map((key) => found.get(key) as Value | undefined)
  }

  /** The fleet belongs to the caller: closing it is theirs to do. */
  async disconnect(): Promise<void> {}
}
