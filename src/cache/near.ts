import { LRUCache } from 'lru-cache'
import { type Entry, keepParsed } from './entry.ts'

/**
 * A read in flight from Redis. An invalidation of its key that arrives before the reply must
 * keep the reply out of the near cache: Redis may have run our GET before the write whose
 * invalidation we just got, so the reply can be the old value.
 */
interface Ticket {
  readers: number
  invalidated: boolean
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
  readonly #entries: LRUCache<string, Entry>
  readonly #tags: LRUCache<string, number>
  readonly #inflight = new Map<string, Ticket>()
  readonly #tagsInflight = new Map<string, Ticket>()
  readonly #scope: string | undefined
  #online = false
  /** Starts the invalidation source on first use (it brings the cache online when it is live). */
  readonly #activate: (() => void) | undefined

  constructor(max: number, scope: string | undefined, activate?: () => void) {
    this.#entries = new LRUCache({ max })
    this.#tags = new LRUCache({ max })
    this.#scope = scope
    this.#activate = activate
  }

  get online(): boolean {
    return this.#online
  }

  get size(): number {
    return this.#entries.size
  }

  /** Link state of the invalidation source; going down (or up again) starts from empty. */
  setOnline(online: boolean): void {
    this.clear()
    this.#online = online
  }

  get(key: string): Entry | undefined {
    if (this.#online) return this.#entries.get(key)
    this.#activate?.()
    return undefined
  }

  begin(key: string): Ticket | undefined {
    if (!this.#online) return undefined
    return enter(this.#inflight, key)
  }

  end(key: string, ticket: Ticket, entry: Entry | undefined): void {
    leave(this.#inflight, key, ticket)
    if (entry && !entry.raw && this.#online && !ticket.invalidated) {
      keepParsed(entry)
      this.#entries.set(key, entry)
    }
  }

  /** Known versions of these tag keys, or undefined if any is not known. */
  tagVersions(keys: readonly string[]): number[] | undefined {
    if (!this.#online) return undefined
    const out: number[] = []
    for (const key of keys) {
      const version = this.#tags.get(key)
      if (version === undefined) return undefined
      out.push(version)
    }
    return out
  }

  beginTags(keys: readonly string[]): Ticket[] | undefined {
    if (!this.#online) return undefined
    return keys.map((key) => enter(this.#tagsInflight, key))
  }

  endTags(keys: readonly string[], tickets: Ticket[], versions: readonly number[]): void {
    keys.forEach((key, i) => {
      const ticket = tickets[i]!
      leave(this.#tagsInflight, key, ticket)
      if (this.#online && !ticket.invalidated) this.#tags.set(key, versions[i]!)
    })
  }

  /** A change of the Redis key `full` (an entry or a tag version): forgotten, reads in flight too. */
  invalidate(full: string): void {
    this.#tags.delete(full)
    revoke(this.#tagsInflight, full)
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

function enter(inflight: Map<string, Ticket>, key: string): Ticket {
  let ticket = inflight.get(key)
  if (!ticket) {
    ticket = { readers: 0, invalidated: false }
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
