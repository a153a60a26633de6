import { NOT_AN_INTEGER, replyError } from '../errors.ts'
import { INTEGER_TEXT } from '../store/decimal.ts'
import type { MemoryKeyspace } from '../topology/memory.ts'
import type { CacheBackend, WriteItem } from './backend.ts'
import { decodeEntry, isExpired } from './entry.ts'
import { escapeGlob, globMatcher } from './glob.ts'
import { newTagVersion } from './tag-versions.ts'

type ChangeListener = (key: string) => void

/**
 * Every change a memory cache makes, process-wide: memory near caches listen here, as Redis
 * near caches listen to CLIENT TRACKING invalidations (every memory fleet shares one keyspace).
 */
const listeners = new Set<ChangeListener>()

export function onMemoryChange(listener: ChangeListener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

function changed(key: string): void {
  for (const listener of listeners) listener(key)
}

/**
 * The cache in process memory. Values are kept as the same text Redis would hold (an envelope,
 * or a plain string for counters), so both backends behave alike and a cached object is never
 * shared with the caller who wrote it. Each method is synchronous inside, hence atomic.
 */
export class MemoryCacheBackend implements CacheBackend {
  constructor(private readonly memory: MemoryKeyspace) {}

  readsManyAtOnce(): boolean {
    return true
  }

  /** As MGET reads a key of another type: missing. */
  #textOrMissing(key: string): string | undefined {
    const value = this.memory.get<unknown>(key)
    return typeof value === 'string' ? value : undefined
  }

  async get(key: string): Promise<string | null> {
    return this.memory.string(key) ?? null
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.#textOrMissing(key) ?? null)
  }

  async getIdentified(key: string): Promise<{ text: string; identity: string } | null> {
    const text = await this.get(key)
    return text === null ? null : { text, identity: text }
  }

  async getExpiring(key: string): Promise<[text: string | null, ttl: number]> {
    return [await this.get(key), this.memory.pttl(key)]
  }

  async getManyExpiring(keys: readonly string[]): Promise<[texts: (string | null)[], ttls: number[]]> {
    return [await this.getMany(keys), keys.map((key) => this.memory.pttl(key))]
  }

  #set(item: WriteItem, stale?: string): boolean {
    if (item.unlessLiveAt !== undefined && this.#live(item.key, item.unlessLiveAt, stale)) return false
    this.memory.set(item.key, item.value, item.ttl)
    changed(item.key)
    return true
  }

  async set(
    key: string,
    value: string,
    ttl: number | undefined,
    unlessLiveAt?: number,
    stale?: string,
  ): Promise<boolean> {
    return this.#set({ key, value, ttl, unlessLiveAt }, stale)
  }

  /**
   * As set-unless-live-1.lua judges it: anything but an entry expired at `now`, or the `stale`
   * text (its identity, see getIdentified), is a value.
   */
  #live(key: string, now: number, stale?: string): boolean {
    if (!this.memory.has(key)) return false
    const text = this.#textOrMissing(key)
    if (text === undefined) return true
    if (text === stale) return false
    try {
      const entry = decodeEntry(text)
      return entry.raw || !isExpired(entry, now)
    } catch {
      return true
    }
  }

  async setMany(items: readonly WriteItem[]): Promise<boolean[]> {
    return items.map((item) => this.#set(item))
  }

  #delete(key: string): boolean {
    const existed = this.memory.delete(key)
    if (existed) changed(key)
    return existed
  }

  async delete(key: string): Promise<boolean> {
    return this.#delete(key)
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    let count = 0
    for (const key of new Set(keys)) if (this.#delete(key)) count++
    return count
  }

  async increment(key: string, by: number, ttl: number | undefined): Promise<number> {
    const text = this.memory.string(key) ?? '0'
    // The same rule as INCRBY: only an integer's text (no leading zero, no -0) can be incremented.
    if (!INTEGER_TEXT.test(text)) throw replyError(NOT_AN_INTEGER)
    const next = Number(text) + by
    if (!Number.isSafeInteger(next)) throw replyError(NOT_AN_INTEGER)
    this.memory.set(key, String(next), 'keep')
    if (ttl !== undefined && this.memory.pttl(key) === -1) this.memory.expire(key, ttl)
    changed(key)
    return next
  }

  async bump(key: string): Promise<number> {
    const version = newTagVersion()
    this.memory.set(key, String(version), 'keep')
    changed(key)
    return version
  }

  async establish(key: string, version: number): Promise<number> {
    const held = this.memory.string(key)
    if (held !== undefined) return Number(held)
    this.memory.set(key, String(version), 'keep')
    changed(key)
    return version
  }

  async deleteMatching(
    prefix: string,
    glob: string,
    others: ((rest: string) => boolean) | undefined,
    removed: (count: number) => void,
  ): Promise<void> {
    // The pattern Redis gets (src/cache/redis.ts): the escaped prefix, then the user's glob.
    const matches = globMatcher(escapeGlob(prefix) + glob)
    let count = 0
    for (const key of this.memory.keys(prefix)) {
      if (others?.(key.slice(prefix.length))) continue
      if (matches(key) && this.#delete(key)) count++
    }
    removed(count)
  }

  async lock(key: string, token: string, ttl: number): Promise<boolean> {
    // As take-fill-lock-1.lua: a lock this token holds already is its own.
    if (this.memory.has(key)) return this.memory.get(key) === token
    this.memory.set(key, token, ttl)
    return true
  }

  async unlock(key: string, token: string): Promise<void> {
    if (this.memory.get(key) === token) this.memory.delete(key)
  }
}
