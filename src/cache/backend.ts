/** What a backend's set resolves: true or Redis' OK when it wrote, else false or null. */
export type SetReply = boolean | 'OK' | null

/** Whether a set wrote its value (see CacheBackend.set). */
export function isWritten(reply: SetReply): boolean {
  return reply === true || reply === 'OK'
}

/**
 * What the cache needs from where it keeps data: bytes under full keys. The memory and Redis
 * backends implement it; the cache itself does keys, envelopes, expiry, versions, tags and
 * failsafe. Every multi-key method is one round trip per node on Redis.
 */
export interface CacheBackend {
  /** The stored text (entries are always UTF-8 text, see entry.ts), or null. */
  get(key: string): Promise<string | null>
  /** One MGET per node (per slot on a cluster), pipelined per node; in input order, null if missing. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>
  /**
   * `get` and the key's PTTL (ms; -1 without expiry, -2 missing), for a near cache's fill: Redis
   * tells a near cache that a key expired only once it deleted it, which may be long after its
   * TTL ended (keys expire lazily), so the near cache stops serving it at the TTL itself.
   */
  getExpiring(key: string): Promise<[text: string | null, ttl: number]>
  /** `getMany` and each key's PTTL, as `getExpiring`. */
  getManyExpiring(keys: readonly string[]): Promise<[texts: (string | null)[], ttls: number[]]>
  /**
   * `get`, with what tells the stored value apart from any other (`set`'s `stale`): on Redis the
   * SHA1 of its bytes, which the text decoded from them may not keep (a character cut in two);
   * in memory the text itself. Null when the key is missing. Not on the hot path.
   */
  getIdentified(key: string): Promise<{ text: string; identity: string } | null>
  /**
   * True when getMany hands its command to the connection before it returns (memory: applied at
   * once; one server, its connection made): no later call can overtake it, so nothing to track.
   */
  readsManyAtOnce(): boolean
  /**
   * SET with PX `ttl` (ms) when given. With `unlessLiveAt` (unlessExist), only if the key holds
   * no live value at that time (set-unless-live-1.lua): false when it found one. `stale`: the
   * identity (getIdentified) of a stored value that is no value either (an entry invalidated by
   * its tags, or corrupt, as the caller read it). Resolves what `isWritten` reads: on Redis the
   * reply as it came, so that a write costs no step more to turn it into a boolean (the cache's
   * hot path).
   */
  set(
    key: string,
    value: string,
    ttl: number | undefined,
    unlessLiveAt?: number,
    stale?: string,
  ): Promise<SetReply>
  /**
   * One pipeline of SETs per node; per item, whether it was written. `written` (setMany,
   * deleteMany): called once the commands are on their connections (see CallOrder.trackChange).
   */
  setMany(items: readonly WriteItem[], written?: () => void): Promise<boolean[]>
  /** UNLINK; true if the key was there. */
  delete(key: string): Promise<boolean>
  /** UNLINK per node (per slot on a cluster), pipelined; how many keys were there. */
  deleteMany(keys: readonly string[], written?: () => void): Promise<number>
  /** INCRBY; `ttl` (ms) is set only when the key has no expiry (never extended). */
  increment(key: string, by: number, ttl: number | undefined): Promise<number>
  /** A tag's new version (newTagVersion), set whatever it held: an invalidation. */
  bump(key: string): Promise<number>
  /** Sets a tag's `version` unless it has one (SET NX); the tag's version either way. */
  establish(key: string, version: number): Promise<number>
  /**
   * Deletes every key that starts with `prefix` and whose rest matches `glob` (Redis glob
   * rules), except those whose rest `others` says belongs to another scope: SCAN on every
   * master, UNLINK in batches. Never KEYS, never FLUSHDB. `removed` is told each batch's count
   * as it is answered: a walk repeated after a transient failure finds gone what the first one
   * removed, and its own count would leave those out.
   */
  deleteMatching(
    prefix: string,
    glob: string,
    others: ((rest: string) => boolean) | undefined,
    removed: (count: number) => void,
  ): Promise<void>
  /** SET NX PX (take-fill-lock-1.lua): true if `token` now holds the lock, taken now or earlier. */
  lock(key: string, token: string, ttl: number): Promise<boolean>
  /** Deletes the lock only if `token` still holds it (an expired lock may be someone else's). */
  unlock(key: string, token: string): Promise<void>
}

export interface WriteItem {
  key: string
  value: string
  ttl: number | undefined
  /** unlessExist: written only if the key holds no live value at this time (see `set`). */
  unlessLiveAt?: number
}
