import { LRUCache } from 'lru-cache'
import { type Entry, keepParsed } from './entry.ts'
import type { StallGuard } from './stall-guard.ts'

/** Each entry's size for lru-cache: `max` counts entries. */
const ONE = (): number => 1

/**
 * A read in flight from Redis. An invalidation of its key that arrives before the reply must
 * keep the reply out of the near cache: Redis may have run our GET before the write whose
 * invalidation we just got, so the reply can be the old value.
 */
interface Ticket {
  readers: number
  invalidated: boolean
  /** The node whose invalidations vouch for the reply, and its epoch when the read began. */
  vouch: Vouch | undefined
  epoch: number
}

/**
 * One node's promise that its invalidations reach us: `live` while tracking is enabled on it as
 * a master, and an `epoch` bumped whenever that promise was broken (the link dropped, the node
 * was demoted, a slot moved to or from it). An entry is served only while the epoch it was
 * filled in is current, so bumping it flushes every entry of the node at once, in O(1); and
 * only before `trustedUntil` (performance.now()): until the invalidation bound has passed since
 * the last moment every invalidation the node sent is known to have been read. Behind a backlog
 * (slow broker listeners on the same connection) they arrive late, and its entries wait.
 */
export interface Vouch {
  readonly live: boolean
  readonly epoch: number
  readonly trustedUntil: number
}

/**
 * Where a near cache's keys live: entries kept relative to `entries` (undefined: by full key, a
 * tenant cache's), tag versions under `tags` (keyBases in scope.ts).
 */
export interface NearScopes {
  entries: string | undefined
  tags: string
}

/** A near-cache value with the node that vouches for it. */
interface Held<T> {
  readonly value: T
  readonly vouch: Vouch | undefined
  readonly epoch: number
  /** When Redis' TTL of the key ends (performance.now()), if it has one: served until then only. */
  readonly until: number | undefined
}

/**
 * The in-process near cache: decoded entries and tag versions, at most `max` of each, least
 * recently used out first. It only ever holds what some source of invalidations vouches for:
 * `online(false)` (the invalidation link is down) flushes it and makes every read go to Redis
 * until `online(true)`.
 *
 * Tag versions are kept by full Redis key. Entries are kept by their key relative to `scope`,
 * the one prefix all entries of a cache without tenants share (by full key when there is none):
 * a hit then hashes the caller's short name, not a long key built for the call. Invalidations
 * arrive as full keys and are mapped the same way.
 *
 * Raw entries (counters) are never kept: they change by INCRBY far more often than they are
 * read, and they carry no expiry of their own to check.
 */
export class NearCache {
  readonly #entries: LRUCache<string, Held<Entry>>
  readonly #tags: LRUCache<string, Held<number>>
  readonly #inflight = new Map<string, Ticket>()
  readonly #tagsInflight = new Map<string, Ticket>()
  readonly #scope: string | undefined
  /** Where the tag versions it keeps live (see mayHoldUnder). */
  readonly #tagScope: string
  #online = false
  /** Starts the invalidation source on first use (it brings the cache online when it is live). */
  readonly #activate: (() => void) | undefined
  /** False after the process stopped running for a while: then nothing held is served. */
  readonly #guard: StallGuard | undefined
  /** Which node vouches for a full Redis key now (see follow); none: the whole cache is one unit. */
  #vouchOf: ((full: string) => Vouch | undefined) | undefined

  constructor(max: number, scopes: NearScopes, activate?: () => void, guard?: StallGuard) {
    // Bounded by size, one per entry, not by `max`: lru-cache allocates room for `max` items at
    // once (33 MB for a million; 2^31 aborted the process, 2^32 threw a RangeError).
    this.#entries = new LRUCache({ maxSize: max, sizeCalculation: ONE })
    this.#tags = new LRUCache({ maxSize: max, sizeCalculation: ONE })
    this.#scope = scopes.entries
    this.#tagScope = scopes.tags
    this.#activate = activate
    this.#guard = guard
  }

  get online(): boolean {
    return this.#online
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * True if this cache may hold a key that starts with `base`: it keeps entries by full key (a
   * tenant cache), or its entries' or tag versions' scope and `base` meet (namespaces of views
   * can make an entry's key another view's tag version: scope.ts keeps them apart within one).
   */
  mayHoldUnder(base: string): boolean {
    return this.#scope === undefined || meet(this.#scope, base) || meet(this.#tagScope, base)
  }

  /** Link state of the invalidation source; going down (or up again) starts from empty. */
  setOnline(online: boolean): void {
    this.clear()
    this.#online = online
  }

  /**
   * Follows the topology: from now on an entry is kept only when the node serving its key is
   * live at the start and at the end of the read, and served only while that node's epoch is
   * the one it was filled in (see Vouch).
   */
  follow(vouchOf: (full: string) => Vouch | undefined): void {
    this.#vouchOf = vouchOf
  }

  get(key: string): Entry | undefined {
    if (this.#online) {
      const now = this.#now()
      return now === undefined ? undefined : current(this.#entries, key, now)
    }
    this.#activate?.()
    return undefined
  }

  /** The time (performance.now()), or undefined when the process just resumed from a stall. */
  #now(): number | undefined {
    return this.#guard === undefined ? performance.now() : this.#guard.awakeAt()
  }

  begin(key: string): Ticket | undefined {
    if (!this.#online) return undefined
    return this.#enter(this.#inflight, key, this.#full(key))
  }

  /**
   * The read of `key` ended with `entry`; `until`: when the key's Redis TTL ends
   * (performance.now()), if it has one. Redis reports an expiry only once it deleted the key,
   * which it does lazily: an entry whose TTL another client set (`SET … PX`, `PEXPIRE`) was
   * served for as long as nobody read the key from Redis.
   */
  end(key: string, ticket: Ticket, entry: Entry | undefined, until?: number): void {
    leave(this.#inflight, key, ticket)
    if (entry && !entry.raw && this.#online && this.#stillVouched(ticket, this.#full(key))) {
      keepParsed(entry)
      this.#entries.set(key, { value: entry, vouch: ticket.vouch, epoch: ticket.epoch, until })
    }
  }

  /** Known versions of these tag keys, or undefined if any is not known. */
  tagVersions(keys: readonly string[]): number[] | undefined {
    if (!this.#online) return undefined
    const now = this.#now()
    if (now === undefined) return undefined
    const out: number[] = []
    for (const key of keys) {
      const version = current(this.#tags, key, now)
      if (version === undefined) return undefined
      out.push(version)
    }
    return out
  }

  beginTags(keys: readonly string[]): Ticket[] | undefined {
    if (!this.#online) return undefined
    const tickets: Ticket[] = []
    for (const key of keys) {
      const ticket = this.#enter(this.#tagsInflight, key, key)
      if (!ticket) {
        tickets.forEach((t, i) => {
          leave(this.#tagsInflight, keys[i]!, t)
        })
        return undefined
      }
      tickets.push(ticket)
    }
    return tickets
  }

  /** The read of tag versions ended; `untils`: when each tag key's Redis TTL ends (see end). */
  endTags(
    keys: readonly string[],
    tickets: Ticket[],
    versions: readonly number[],
    untils: readonly (number | undefined)[] = [],
  ): void {
    keys.forEach((key, i) => {
      const ticket = tickets[i]!
      leave(this.#tagsInflight, key, ticket)
      if (this.#online && this.#stillVouched(ticket, key)) {
        this.#tags.set(key, {
          value: versions[i]!,
          vouch: ticket.vouch,
          epoch: ticket.epoch,
          until: untils[i],
        })
      }
    })
  }

  /** The full Redis key of a near-cache key (entries are kept relative to the scope). */
  #full(key: string): string {
    return this.#scope === undefined ? key : this.#scope + key
  }

  /** A ticket for a read of `full`, or undefined when no live node vouches for it now. */
  #enter(inflight: Map<string, Ticket>, key: string, full: string): Ticket | undefined {
    const vouchOf = this.#vouchOf
    const vouch = vouchOf ? vouchOf(full) : undefined
    if (vouchOf && !vouch?.live) return undefined
    return enter(inflight, key, vouch)
  }

  /**
   * The reply may be kept: no invalidation overtook it, and the node that vouched for the key
   * when the read began still does, unbroken (a MOVED during the read re-maps the key at once).
   */
  #stillVouched(ticket: Ticket, full: string): boolean {
    if (ticket.invalidated) return false
    const { vouch } = ticket
    if (!vouch) return true
    return vouch.live && vouch.epoch === ticket.epoch && this.#vouchOf?.(full) === vouch
  }

  /** A change of the Redis key `full` (an entry or a tag version): forgotten, reads in flight too. */
  invalidate(full: string): void {
    // Each change of a key under a tracked prefix comes here (own writes twice, Redis' push once):
    // a cache holding nothing of a kind skips its lookups, the key's slicing and hashing.
    if (this.#tags.size !== 0 || this.#tagsInflight.size !== 0) {
      this.#tags.delete(full)
      revoke(this.#tagsInflight, full)
    }
    if (this.#entries.size === 0 && this.#inflight.size === 0) return
    const scope = this.#scope
    if (scope !== undefined && !full.startsWith(scope)) return
    const key = scope === undefined ? full : full.slice(scope.length)
    this.#entries.delete(key)
    revoke(this.#inflight, key)
  }

  clear(): void {
    this.#entries.clear()
    this.#tags.clear()
    for (const inflight of [this.#inflight, this.#tagsInflight]) {
      for (const ticket of inflight.values()) ticket.invalidated = true
      inflight.clear()
    }
  }
}

/** True if one of two key prefixes starts with the other: keys can start with both. */
function meet(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a)
}

/**
 * The value of `key` at `now` if the node that vouched for it has not broken its promise since
 * and is trusted now (else it waits: see Vouch), and its Redis TTL (if any) has not ended.
 */
function current<T>(cache: LRUCache<string, Held<T>>, key: string, now: number): T | undefined {
  const held = cache.get(key)
  if (held === undefined) return undefined
  const { vouch } = held
  if (
    (vouch !== undefined && vouch.epoch !== held.epoch) ||
    (held.until !== undefined && now >= held.until)
  ) {
    cache.delete(key)
    return undefined
  }
  // Kept while its node is not trusted: it is again once its invalidations are read up to date.
  return vouch === undefined || now < vouch.trustedUntil ? held.value : undefined
}

function enter(inflight: Map<string, Ticket>, key: string, vouch: Vouch | undefined): Ticket {
  let ticket = inflight.get(key)
  if (!ticket) {
    ticket = { readers: 0, invalidated: false, vouch, epoch: vouch?.epoch ?? 0 }
    inflight.set(key, ticket)
  }
  ticket.readers++
  return ticket
}

function leave(inflight: Map<string, Ticket>, key: string, ticket: Ticket): void {
  ticket.readers--
  if (ticket.readers === 0 && inflight.get(key) === ticket) inflight.delete(key)
}

function revoke(inflight: Map<string, Ticket>, key: string): void {
  const ticket = inflight.get(key)
  if (ticket) {
    ticket.invalidated = true
    inflight.delete(key)
  }
}
