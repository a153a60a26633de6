/**
 * What the Store needs from where it keeps data: raw JSON text under full keys. The memory
 * and Redis backends implement it; the Store itself does validation, encoding and retries.
 */
export interface StoreBackend {
  /** The raw text; null or undefined when the key is missing. */
  get(key: string): Promise<string | null | undefined>
  getMany(keys: readonly string[]): Promise<(string | null | undefined)[]>
  /** `ttl` in ms; without it the key keeps no expiry (as SET does). */
  set(key: string, text: string, ttl?: number): Promise<void>
  setMany(entries: readonly [string, string][], ttl?: number): Promise<void>
  delete(key: string): Promise<boolean>
  setIfNotExists(key: string, text: string, ttl?: number): Promise<boolean>
  /** Adds `by`; `ttl` is applied only when the key has no expiry yet. Returns the new value. */
  increment(key: string, by: number, ttl?: number): Promise<number>
  /**
   * Writes `next` (or deletes when undefined) only if the key still holds `expected`
   * (undefined: missing). Without `ttl` the key keeps its current expiry. False on conflict.
   */
  compareAndSet(
    key: string,
    expected: string | undefined,
    next: string | undefined,
    ttl?: number,
  ): Promise<boolean>
}

export const NOT_AN_INTEGER = 'ERR value is not an integer or out of range'
export const NOT_A_FLOAT = 'ERR value is not a valid float'
