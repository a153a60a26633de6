import { NOT_A_FLOAT, NOT_AN_INTEGER, replyError } from '../errors.ts'
import type { MemoryKeyspace } from '../topology/memory.ts'
import type { StoreBackend, TokenWrite } from './backend.ts'
import { addAsRedis, INTEGER_TEXT } from './decimal.ts'

/**
 * The Store in process memory. Every method is synchronous inside, hence atomic and applied at
 * the moment it is called; nothing can fail halfway, so tokens and durability mean nothing here.
 */
export class MemoryStoreBackend implements StoreBackend {
  constructor(private readonly memory: MemoryKeyspace) {}

  sendsAtOnce(): boolean {
    return true
  }

  /** As MGET reads a key of another type: missing. */
  #textOrMissing(key: string): string | undefined {
    const value = this.memory.get<unknown>(key)
    return typeof value === 'string' ? value : undefined
  }

  async get(key: string): Promise<string | undefined> {
    return this.memory.string(key)
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    return keys.map((key) => this.#textOrMissing(key))
  }

  async set(key: string, text: string, ttl?: number): Promise<void> {
    this.memory.set(key, text, ttl)
  }

  async setMany(entries: readonly [string, string][], ttl?: number): Promise<void> {
    for (const [key, text] of entries) this.memory.set(key, text, ttl)
  }

  async delete(key: string): Promise<boolean> {
    return this.memory.delete(key)
  }

  async claim({ key, text, ttl }: TokenWrite & { text: string; ttl?: number }): Promise<boolean> {
    if (this.memory.has(key)) return false
    this.memory.set(key, text, ttl)
    return true
  }

  async increment(key: string, by: number, ttl?: number): Promise<number> {
    const current = this.memory.string(key) ?? '0'
    // As INCRBYFLOAT adds (src/store/lua/increment-with-ttl-1.lua), so code that works here works
    // on Redis: an integer counter and step as numbers (the same sum), anything else as decimals.
    const integer = Number.isInteger(by) && INTEGER_TEXT.test(current)
    const text = integer ? String(Number(current) + by) : addAsRedis(current, by)
    if (text === undefined) throw replyError(NOT_A_FLOAT)
    const next = Number(text)
    // A sum past 2^53 - 1 either way is refused, as on Redis (src/store/lua/increment-with-ttl-1.lua).
    if (Math.abs(next) > Number.MAX_SAFE_INTEGER) throw replyError(NOT_AN_INTEGER)
    this.memory.set(key, text, 'keep')
    if (ttl !== undefined && this.memory.pttl(key) === -1) this.memory.expire(key, ttl)
    return next
  }

  async compareAndSet({
    key,
    expected,
    next,
    ttl,
  }: TokenWrite & {
    expected: string | undefined
    next: string | undefined
    ttl?: number
  }): Promise<boolean> {
    if (this.memory.string(key) !== expected) return false
    if (next === undefined) this.memory.delete(key)
    else this.memory.set(key, next, ttl ?? 'keep')
    return true
  }
}
