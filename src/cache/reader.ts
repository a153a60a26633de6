import { SerializationError } from '../errors.ts'
import type { CacheBackend } from './backend.ts'
import type { Clock } from './clock.ts'
import {
  checkValue,
  decodeEntry,
  type Entry,
  entryValue,
  isExpired,
  isMismatched,
  type TagStamp,
} from './entry.ts'
import type { NearCache } from './near.ts'
import type { CacheMethod, RunCommand } from './run.ts'
import { type KeyScope, type Scope, tagKeys } from './scope.ts'
import { tagVersion } from './tag-versions.ts'
import type { CacheStats } from './types.ts'

export interface ReaderParts {
  backend: CacheBackend
  run: RunCommand
  keys: KeyScope
  near: NearCache | undefined
  clock: Clock
  stats: CacheStats
  /** Reports a damaged entry (failsafe), which the read takes as a miss of its key. */
  corrupt(method: CacheMethod, error: SerializationError): void
}

/**
 * The cache's one read path: an entry is looked up in the near cache (`cached`), else loaded
 * from Redis (`load`, `loadMany`: GET or one MGET per node, decoded, tags checked), and a reply
 * no invalidation overtook fills the near cache. Expiry and version are judged by `isLive`.
 */
export class EntryReader {
  readonly #o: ReaderParts

  constructor(parts: ReaderParts) {
    this.#o = parts
  }

  /** Present, not expired, not of another version. The clock is read only for entries that expire. */
  isLive(entry: Entry | undefined, version: string | undefined): entry is Entry {
    if (entry === undefined || isMismatched(entry, version)) return false
    return entry.expiresAt === undefined || !isExpired(entry, this.#o.clock())
  }

  /**
   * The near cache's entry of a key, if it has one whose tags are current; counted as a near hit
   * if it is live for `version` (an expired one is the caller's miss). Synchronous, so that a
   * near hit is answered without waiting on a promise.
   */
  cached(scope: Scope, name: string, full: string, version: string | undefined): Entry | undefined {
    const entry = this.peek(scope, name, full)
    if (entry !== undefined && this.isLive(entry, version)) this.#o.stats.nearHits++
    return entry
  }

  /** What `cached` returns, not counted: the caller counts the near hit if it uses the entry. */
  peek(scope: Scope, name: string, full: string): Entry | undefined {
    const near = this.#o.near
    if (!near) return undefined
    const entry = near.get(this.#o.keys.nearKey(name, full))
    if (!entry || !this.#nearTagsCurrent(near, scope, entry)) return undefined
    return entry
  }

  /**
   * The entry of a key: near cache first, then Redis. Expiry and version are the caller's, and
   * so is counting: `exist` and a fetch's re-check count no hit, so no near hit either.
   */
  entry(method: CacheMethod, scope: Scope, name: string, full: string): Promise<Entry | undefined> {
    const kept = this.peek(scope, name, full)
    return kept ? Promise.resolve(kept) : this.load(method, scope, name, full)
  }

  /**
   * The entry of a key from Redis, past the near cache (callers look there first themselves),
   * filling the near cache unless an invalidation of the key overtook the reply.
   */
  load(method: CacheMethod, scope: Scope, name: string, full: string): Promise<Entry | undefined> {
    const near = this.#o.near
    if (near) {
      const nearKey = this.#o.keys.nearKey(name, full)
      const ticket = near.begin(nearKey)
      if (ticket) return this.#loadTracked(method, scope, name, full, nearKey, ticket)
    }
    return this.#get(method, scope, name, full)
  }

  /** A load whose reply may fill the near cache, unless an invalidation overtook it. */
  async #loadTracked(
    method: CacheMethod,
    scope: Scope,
    name: string,
    full: string,
    nearKey: string,
    ticket: NonNullable<ReturnType<NearCache['begin']>>,
  ): Promise<Entry | undefined> {
    let entry: Entry | undefined
    let until: number | undefined
    const sent = sentNow()
    try {
      const [stored, ttl] = await this.#o.run(method, name, () => this.#o.backend.getExpiring(full))
      entry = await this.#loaded(method, scope, name, stored)
      until = redisExpiry(sent, ttl, entry)
    } finally {
      this.#o.near!.end(nearKey, ticket, entry, until)
    }
    return entry
  }

  /**
   * The identity (CacheBackend.getIdentified) of what is stored under `full` when it is no value
   * though Redis holds it, else undefined: what an unlessExist write that found it may replace
   * (see EntryWriter). That is an entry every read misses by its tags (one of them invalidated
   * since it was written), or a corrupt one, which every read misses and reports
   * (docs/cache.md), as this does.
   */
  async replaceableIdentity(
    method: CacheMethod,
    scope: Scope,
    name: string,
    full: string,
  ): Promise<string | undefined> {
    const stored = await this.#o.run(method, name, () => this.#o.backend.getIdentified(full))
    if (stored === null) return undefined
    const entry = this.#decoded(method, name, stored.text)
    if (entry === undefined) return stored.identity
    if (!entry.tags || (await this.#tagsCurrent(method, scope, entry.tags))) return undefined
    return stored.identity
  }

  /**
   * GET, decoded, tags checked. Not an async function: a read is the cache's hot path, and an
   * async layer costs a promise and a turn of the microtask queue per call.
   */
  #get(method: CacheMethod, scope: Scope, name: string, full: string): Promise<Entry | undefined> {
    return this.#o
      .run(method, name, () => this.#o.backend.get(full))
      .then((stored) => this.#loaded(method, scope, name, stored))
  }

  /** A GET's reply as an entry: decoded, and (one round trip more) its tags checked when it has any. */
  #loaded(
    method: CacheMethod,
    scope: Scope,
    name: string,
    stored: string | null,
  ): Entry | undefined | Promise<Entry | undefined> {
    if (stored === null) return undefined
    const entry = this.#decoded(method, name, stored)
    if (entry?.tags === undefined) return entry
    return this.#tagsCurrent(method, scope, entry.tags).then((current) => (current ? entry : undefined))
  }

  /**
   * The entries of many keys: near cache first, the rest with one MGET per node (one more round
   * trip only if some entry has tags). In input order, undefined where there is none. `versionOf`
   * gives the version asked of the key at an index (what a near hit is counted against).
   * `fromNear`, when given (a traced call), is set true at the index of each entry the near cache
   * answered. Without a near cache the values are not parsed yet: take them with `valueOf`.
   */
  async loadMany(
    method: CacheMethod,
    scope: Scope,
    names: readonly string[],
    fulls: readonly string[],
    versionOf: (i: number) => string | undefined,
    fromNear?: boolean[],
  ): Promise<(Entry | undefined)[]> {
    const near = this.#o.near
    // Nothing allocated before the reply: what a read holds while it waits, GC has to copy. Nor
    // are values parsed until the caller takes them: at high concurrency every call of a step
    // holding its parsed values across the calls' next turns is most of what GC copies.
    if (!near) return this.#getMany(method, scope, names, fulls, false)
    const entries = new Array<Entry | undefined>(fulls.length)
    const missing: number[] = []
    for (let i = 0; i < fulls.length; i++) {
      const cached = this.cached(scope, names[i]!, fulls[i]!, versionOf(i))
      if (cached) {
        entries[i] = cached
        if (fromNear) fromNear[i] = true
      } else missing.push(i)
    }
    if (missing.length === 0) return entries
    const nearKeys = missing.map((i) => this.#o.keys.nearKey(names[i]!, fulls[i]!))
    const tickets = nearKeys.map((key) => near.begin(key))
    let loaded: (Entry | undefined)[] = []
    const untils: (number | undefined)[] = []
    try {
      loaded = await this.#getMany(
        method,
        scope,
        missing.map((i) => names[i]!),
        missing.map((i) => fulls[i]!),
        true,
        untils,
      )
    } finally {
      nearKeys.forEach((key, n) => {
        const ticket = tickets[n]
        if (ticket) near.end(key, ticket, loaded[n], untils[n])
      })
    }
    for (let n = 0; n < missing.length; n++) entries[missing[n]!] = loaded[n]
    return entries
  }

  /** True when loadMany's MGET leaves before it returns (see CacheBackend.readsManyAtOnce). */
  readsManyAtOnce(): boolean {
    return this.#o.backend.readsManyAtOnce()
  }

  /**
   * The value of an entry `loadMany` returned, or `miss` when it is not `live` (expired, of
   * another version) or its value is damaged, which is reported as `load` reports it. An entry
   * that is not live is checked all the same: a damaged one is reported whether or not it is used.
   */
  valueOf(method: CacheMethod, name: string, entry: Entry, live: boolean, miss: unknown): unknown {
    try {
      if (live) return entryValue(entry)
      checkValue(entry)
    } catch (error) {
      this.#reportDamaged(method, name, error)
    }
    return miss
  }

  /**
   * MGET per node, decoded, tags checked; values checked too when `check` (see #decoded). With
   * `untils` (a near cache's fill), each key's PTTL is read too, and when its Redis TTL ends is
   * put there (see NearCache.end).
   */
  async #getMany(
    method: CacheMethod,
    scope: Scope,
    names: readonly string[],
    keys: readonly string[],
    check: boolean,
    untils?: (number | undefined)[],
  ): Promise<(Entry | undefined)[]> {
    let stored: (string | null)[]
    let ttls: number[] = []
    // Only a near cache's fill reads the clocks (readMulti without one is a hot path).
    const sent = untils === undefined ? undefined : sentNow()
    if (sent === undefined) stored = await this.#o.run(method, undefined, () => this.#o.backend.getMany(keys))
    else [stored, ttls] = await this.#o.run(method, undefined, () => this.#o.backend.getManyExpiring(keys))
    let tagged = false
    const entries = stored.map((text, i) => {
      if (text === null) return undefined
      const entry = this.#decoded(method, names[i]!, text, check)
      if (entry?.tags) tagged = true
      return entry
    })
    if (tagged) await this.#dropStaleTags(method, scope, entries)
    if (sent !== undefined) untils!.push(...entries.map((entry, i) => redisExpiry(sent, ttls[i]!, entry)))
    return entries
  }

  /**
   * A stored entry, decoded and, when `check` or when it has tags, its value checked (an entry
   * with tags may be dropped by them before anyone takes its value: see `valueOf`); a damaged
   * one (another program's write, a cut) is reported and read as a miss of its key alone, as
   * Rails reads an entry it cannot load.
   */
  #decoded(method: CacheMethod, name: string, stored: string, check = true): Entry | undefined {
    try {
      const entry = decodeEntry(stored)
      if (check || entry.tags) checkValue(entry)
      return entry
    } catch (error) {
      this.#reportDamaged(method, name, error)
      return undefined
    }
  }

  #reportDamaged(method: CacheMethod, name: string, error: unknown): void {
    const reason = (error as Error).message
    this.#o.corrupt(
      method,
      new SerializationError(`cache.${method} '${name}': ${reason}`, { cause: error, stored: true }),
    )
  }

  /** Current versions of tags (MISSING_VERSION for a tag without one), in one round trip. */
  async tagVersions(method: CacheMethod, scope: Scope, names: readonly string[]): Promise<number[]> {
    const keys = tagKeys(scope, names)
    const near = this.#o.near
    const ticket = near?.beginTags(keys)
    if (!ticket) {
      const stored = await this.#o.run(method, undefined, () => this.#o.backend.getMany(keys))
      return stored.map(tagVersion)
    }
    // Kept by the near cache: until a TTL another client gave the tag key ends, as an entry's.
    const sent = sentNow()
    const [stored, ttls] = await this.#o.run(method, undefined, () => this.#o.backend.getManyExpiring(keys))
    const versions = stored.map(tagVersion)
    near!.endTags(
      keys,
      ticket,
      versions,
      ttls.map((ttl) => (ttl < 0 ? undefined : sent.at + ttl)),
    )
    return versions
  }

  async #tagsCurrent(method: CacheMethod, scope: Scope, tags: readonly TagStamp[]): Promise<boolean> {
    const versions = await this.tagVersions(
      method,
      scope,
      tags.map((tag) => tag.name),
    )
    return tags.every((tag, i) => versions[i] === tag.version)
  }

  #nearTagsCurrent(near: NearCache, scope: Scope, entry: Entry): boolean {
    if (!entry.tags) return true
    const versions = near.tagVersions(
      tagKeys(
        scope,
        entry.tags.map((tag) => tag.name),
      ),
    )
    if (versions === undefined) return false
    return entry.tags.every((tag, i) => versions[i] === tag.version)
  }

  /** Replaces by undefined every entry whose tags were invalidated (one round trip for all tags). */
  async #dropStaleTags(method: CacheMethod, scope: Scope, entries: (Entry | undefined)[]): Promise<void> {
    const names = [...new Set(entries.flatMap((entry) => entry?.tags?.map((tag) => tag.name) ?? []))]
    if (names.length === 0) return
    const versions = await this.tagVersions(method, scope, names)
    const current = new Map(names.map((name, i) => [name, versions[i]]))
    entries.forEach((entry, i) => {
      if (entry?.tags?.some((tag) => current.get(tag.name) !== tag.version)) entries[i] = undefined
    })
  }
}

/** When a read was sent: performance.now() for the near cache's deadlines, Date.now() for entries'. */
interface Sent {
  readonly at: number
  readonly epoch: number
}

function sentNow(): Sent {
  return { at: performance.now(), epoch: Date.now() }
}

/**
 * When the near cache stops serving `entry`, read with a Redis TTL of `ttl` ms (-1: none) by a
 * read sent at `sent`: when that TTL ends, unless the entry's own expiry comes first (the cache
 * sets a TTL at least as long as an entry's `expiresIn`), which every hit checks anyway.
 */
function redisExpiry(sent: Sent, ttl: number, entry: Entry | undefined): number | undefined {
  if (ttl < 0 || entry === undefined) return undefined
  if (entry.expiresAt !== undefined && entry.expiresAt <= sent.epoch + ttl) return undefined
  return sent.at + ttl
}
