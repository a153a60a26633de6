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
 * The in-process near cache: decoded entries (and tag versions) by full Redis key, at most
 * `max` of each, least recently used out first. It only ever holds what some source of
 * invalidations vouches for: `online(false)` (the invalidation link is down) flushes it and makes
 * every read go to Redis until `online(true)`.
 *
 * Raw entries (counters) are never kept: they change by INCRBY far more often than they are
 * read, and they carry no expiry of their own to check.
 */
export class NearCache {
  readonly #entries: LRUCache<string, Entry>
  readonly #tags: LRUCache<string, number>
  readonly #inflight = new Map<string, Ticket>()
  #online = false
  /** Starts the invalidation source on first use (it brings the cache online when it is live). */
  readonly #activate: (() => void) | undefined

  constructor(max: number, activate?: () => void) {
    this.#entries = new LRUCache({ max })
    this.#tags = new LRUCache({ max })
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
    let ticket = this.#inflight.get(key)
    if (!ticket) {
      ticket = { readers: 0, invalidated: false }
      this.#inflight.set(key, ticket)
    }
    ticket.readers++
    return ticket
  }

  end(key: string, ticket: Ticket, entry: Entry | undefined): void {
    ticket.readers--
    if (ticket.readers === 0 && this.#inflight.get(key) === ticket) this.#inflight.delete(key)
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
    return keys.map((key) => this.begin(key)!)
  }

  endTags(keys: readonly string[], tickets: Ticket[], versions: readonly number[]): void {
    keys.forEach((key, i) => {
      const ticket = tickets[i]!
      ticket.readers--
      if (ticket.readers === 0 && this.#inflight.get(key) === ticket) this.#inflight.delete(key)
      if (this.#online && !ticket.invalidated) this.#tags.set(key, versions[i]!)
    })
  }

  invalidate(key: string): void {
    this.#entries.delete(key)
    this.#tags.delete(key)
    const ticket = this.#inflight.get(key)
    if (ticket) {
      ticket.invalidated = true
      this.#inflight.delete(key)
    }
  }

  clear(): void {
    this.#entries.clear()
    this.#tags.clear()
    for (const ticket of this.#inflight.values()) ticket.invalidated = true
    this.#inflight.clear()
  }
}
