import type { Durability } from '../durability.ts'

/**
 * What the Store needs from where it keeps data: raw text under full keys. The memory and Redis
 * backends implement it; the Store itself does validation, encoding, call order and retries.
 *
 * `durability` (SPEC §10) is honoured by the Redis backend and means nothing in memory. `token`
 * and `tokenKey` let a repeated send of a claim or an update recognise its own earlier write
 * (SPEC §8); a memory call cannot fail halfway, so the memory backend needs neither.
 */
export interface StoreBackend {
  /**
   * True when a call's commands are written to Redis before the call returns (given
   * synchronously), so that a later call cannot overtake it. `many`: for getMany/setMany.
   */
  sendsAtOnce(many: boolean): boolean
  /** The raw text; null or undefined when the key is missing. */
  get(key: string): Promise<string | null | undefined>
  /**
   * `written` (getMany, setMany): called once the commands are on their connections, when that
   * is after this returns (a multi-key call learns where its keys live first): see KeyOrder.
   */
  getMany(keys: readonly string[], written?: () => void): Promise<(string | null | undefined)[]>
  /** `ttl` in ms; without it the key keeps no expiry (as SET does). */
  set(key: string, text: string, ttl?: number, durability?: Durability): Promise<unknown>
  setMany(
    entries: readonly [string, string][],
    ttl?: number,
    durability?: Durability,
    written?: () => void,
  ): Promise<void>
  delete(key: string): Promise<boolean>
  /** Writes only if the key is missing; true if this call (`token`) holds it. */
  claim(claim: TokenWrite & { text: string; ttl?: number }): Promise<boolean>
  /** Adds `by`; `ttl` is applied only when the key has no expiry yet. Returns the new value. */
  increment(key: string, by: number, ttl?: number, durability?: Durability): Promise<number>
  /**
   * Writes `next` (or deletes when undefined) only if the key still holds `expected`
   * (undefined: missing), or recognises that this write (`token`) was applied already.
   * Without `ttl` the key keeps its current expiry. False on conflict.
   */
  compareAndSet(
    write: TokenWrite & { expected: string | undefined; next: string | undefined; ttl?: number },
  ): Promise<boolean>
}

/** A write that a repeated send recognises by its token (see the claim and CAS scripts). */
export interface TokenWrite {
  key: string
  /** Where the token of the key's last recognisable write lives: same slot as `key`. */
  tokenKey: string
  /** Unique per call, the same on every send of it. */
  token: string
  /** How long the token outlives the write, in ms: longer than any retry of the call. */
  tokenTtl: number
  durability?: Durability
}
