import type { RetryOptions } from '../retry.ts'

/**
 * What can name a cache entry (Rails' key expansion, docs/cache.md "Keys"): a string as is; a
 * number stringified; an object with `cacheKey()` uses it; an array joins its expanded elements
 * with `/`; a plain object becomes its sorted `k=v` pairs joined with `/`. Inside an array or an
 * object's values, parts may nest and may be null or undefined (expanded to nothing).
 */
export type CacheKey =
  | string
  | number
  | { cacheKey(): string }
  | CacheKeyPart[]
  | { [name: string]: CacheKeyPart }

/** A part of an array or object cache key (see CacheKey). */
export type CacheKeyPart =
  | string
  | number
  | boolean
  | null
  | undefined
  | { cacheKey(): string }
  | CacheKeyPart[]
  | { [name: string]: CacheKeyPart }

/** Defaults for every call of one cache; per-call options override them. */
export interface CacheOptions {
  /** Extra prefix inside the fleet namespace: entries live under `${fleet}:cache:${namespace}:`. */
  namespace?: string | undefined
  /** Default time to live in ms; default: no expiry. */
  expiresIn?: number | undefined
  /** Serve a just-expired value for this long (ms) while one caller regenerates it (Rails). */
  raceConditionTtl?: number | undefined
  /** Don't store `null` results of `fetch`. */
  skipNil?: boolean | undefined
  /** Default true. */
  compress?: boolean | undefined
  /** Payloads of at least this many bytes are compressed when that saves space; default 1024. */
  compressThreshold?: number | undefined
  /** Default 1024 bytes (whole Redis key); longer keys end in a SHA-256 suffix. false: never shorten. */
  maxKeySize?: number | false | undefined
  /** Part of every key: bumping it hides all older entries at once. */
  modelVersion?: number | undefined
  /** If set, every key is scoped to the tenant it returns; a call while it returns nothing throws. */
  tenant?: (() => string | undefined) | undefined
  /** In-process near cache of at most `max` entries, kept coherent by Redis (CLIENT TRACKING). */
  near?: { max: number } | false | undefined
  /** Fleet-wide fill lock for `fetch` misses, in ms; default 5000; 0 disables it. */
  lockTimeout?: number | undefined
  /** Where failures go; the call returns `returning`. Default: `process.emitWarning`. Throw to fail the call. */
  errorHandler?: ((info: { method: string; returning: unknown; exception: unknown }) => void) | undefined
  /** Store every value as its plain string form (as `write(…, { raw: true })`). */
  raw?: boolean | undefined
  /** Retry policy of this cache's Redis calls; default: the fleet's. */
  retry?: RetryOptions | undefined
}

/** Options of one write (and of `fetch`, whose compute may change them). */
export interface WriteOptions {
  /** Time to live in ms; `null` overrides a store default with "no expiry". */
  expiresIn?: number | null | undefined
  /** Absolute expiry: epoch ms or a Date. Not together with `expiresIn`. */
  expiresAt?: number | Date | undefined
  /** An entry written with a version is a miss for a read asking for another one. */
  version?: string | number | undefined
  /** Write only if no live value is there; `write` then returns false. */
  unlessExist?: boolean | undefined
  /** Store the plain string form, without envelope (what counters use). */
  raw?: boolean | undefined
  compress?: boolean | undefined
  compressThreshold?: number | undefined
  raceConditionTtl?: number | undefined
  /** Tags whose `invalidateTag` makes this entry a miss. */
  tags?: string[] | undefined
}

/** Options of a read. */
export interface ReadOptions {
  version?: string | number | undefined
  /**
   * Rails' flag, accepted for its signature and never needed: entries describe themselves, so a
   * plain string (a counter, a `raw: true` write, another client's value) reads back as that
   * string with or without it, and an envelope reads back as its value either way.
   */
  raw?: boolean | undefined
}

/** Options of `fetch` and `fetchMulti`: write options, plus whether to skip the read. */
export type FetchOptions = WriteOptions & { force?: boolean | undefined; skipNil?: boolean | undefined }

/** Counts since the cache was created. */
export interface CacheStats {
  /** Reads that found a live entry (near-cache hits included). */
  hits: number
  misses: number
  writes: number
  deletes: number
  /** Reads answered by the near cache without asking Redis. */
  nearHits: number
  /** Failures passed to `errorHandler`. */
  errors: number
  /** Computes run by `fetch` and `fetchMulti` on a miss. */
  fills: number
}

/** Rails' `RedisCacheStore` behaviour set (SPEC §3). */
export interface Cache {
  /** GET (one round trip; two for a tagged entry). A miss, an expired or mismatched entry: undefined. */
  read<T = unknown>(key: CacheKey, o?: ReadOptions): Promise<T | undefined>
  /**
   * SET with PX/NX. True, or false when `unlessExist` found a value (or Redis failed). Takes
   * fetch's options too, so that a compute's can be passed on; `force` and `skipNil` are ignored.
   */
  write(key: CacheKey, value: unknown, o?: FetchOptions): Promise<boolean>
  /** Read; on a miss compute once (per process and, with the fill lock, per fleet), store and return. */
  fetch<T>(key: CacheKey, compute: (key: string, o: WriteOptions) => T | Promise<T>): Promise<T>
  fetch<T>(
    key: CacheKey,
    o: FetchOptions,
    compute?: (key: string, o: WriteOptions) => T | Promise<T>,
  ): Promise<T>
  exist(key: CacheKey, o?: { version?: string | number | undefined }): Promise<boolean>
  /** UNLINK; true if an entry was there. */
  delete(key: CacheKey): Promise<boolean>
  /** One MGET per node (ring) or per slot on each node (cluster), pipelined. Hits only. */
  readMulti(keys: CacheKey[], o?: { version?: string | number | undefined }): Promise<Map<CacheKey, unknown>>
  /** One pipeline of SETs per node. Takes fetch's options too, as `write`. */
  writeMulti(entries: Map<CacheKey, unknown> | Record<string, unknown>, o?: FetchOptions): Promise<boolean>
  /** Every key in input order; misses computed in order and stored with one writeMulti. */
  fetchMulti<T>(
    keys: CacheKey[],
    o: FetchOptions,
    compute: (key: CacheKey) => T | Promise<T>,
  ): Promise<Map<CacheKey, T>>
  /** UNLINK per node (per slot on a cluster); how many entries were there. */
  deleteMulti(keys: CacheKey[]): Promise<number>
  /** INCRBY; a missing key starts from 0; `expiresIn` is set only when the key has no TTL. */
  increment(key: CacheKey, by?: number, o?: { expiresIn?: number | undefined }): Promise<number | undefined>
  decrement(key: CacheKey, by?: number, o?: { expiresIn?: number | undefined }): Promise<number | undefined>
  readCounter(key: CacheKey): Promise<number | undefined>
  writeCounter(key: CacheKey, value: number, o?: { expiresIn?: number | undefined }): Promise<boolean>
  /** SCAN every master for the glob (relative to the cache namespace) and UNLINK in batches. */
  deleteMatched(glob: string): Promise<number>
  /** INCR of the tag's version: every entry written with the tag becomes a miss, everywhere. */
  invalidateTag(tag: string): Promise<void>
  /** Deletes this cache's namespace (the current tenant's part of it with `tenant`), never FLUSHDB. */
  clear(): Promise<void>
  stats(): CacheStats
}
