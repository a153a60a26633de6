import { type CacheBackend, isWritten, type SetReply, type WriteItem } from './backend.ts'
import type { Clock } from './clock.ts'
import type { TagStamp } from './entry.ts'
import { type Prepared, type Sealed, sealEntry } from './envelope.ts'
import type { NearEviction } from './near-caches.ts'
import type { WriteSettings } from './options.ts'
import { type CallOrder, NONE } from './order.ts'
import type { EntryReader } from './reader.ts'
import type { CacheMethod, RunCommand } from './run.ts'
import { type Scope, tagKeys } from './scope.ts'
import { MISSING_VERSION, newTagVersion } from './tag-versions.ts'
import type { CacheStats } from './types.ts'

export interface WriterParts {
  backend: CacheBackend
  run: RunCommand
  reader: EntryReader
  /**
   * The near caches a change evicts its key from: on Redis those of the fleet that may hold it
   * (this one's included), on memory this cache's own (the others hear every change by themselves).
   */
  near: NearEviction | undefined
  clock: Clock
  stats: CacheStats
}

/** A fill's tag versions could not be read before its compute: it stores nothing. */
export const UNSTAMPED: unique symbol = Symbol('unstamped')

/** One entry of a multi-key write, its value prepared. */
export interface PendingWrite {
  /** The key as the caller named it (expanded), for reports. */
  name: string
  full: string
  prepared: Prepared
  version: string | undefined
}

/**
 * The cache's one write path: envelopes sealed at the moment of sending (so a TTL counts from
 * then), SET on the key's node or one pipeline of SETs per node, UNLINK, and the own-write
 * eviction: this process's near cache drops an entry when the change is sent and again once Redis
 * acknowledged it, so a read that starts afterwards goes to Redis for the new value (the tracking
 * invalidation may come later).
 */
export class EntryWriter {
  readonly #o: WriterParts

  constructor(parts: WriterParts) {
    this.#o = parts
  }

  /**
   * The current versions of a write's tags, to stamp into its entries; undefined (no round trip,
   * no await) for a write without tags or a raw one.
   */
  stamps(method: CacheMethod, scope: Scope, settings: WriteSettings): Promise<TagStamp[]> | undefined {
    const names = settings.tags
    if (!names || !isStamped(settings)) return undefined
    return this.#o.reader
      .tagVersions(method, scope, names)
      .then((versions) =>
        versions.includes(MISSING_VERSION)
          ? this.#establish(method, tagKeys(scope, names), versions)
          : versions,
      )
      .then((versions) => names.map((name, i) => ({ name, version: versions[i]! })))
  }

  /** `versions` with a version set for each tag without one (see tag-versions.ts). */
  #establish(method: CacheMethod, keys: readonly string[], versions: readonly number[]): Promise<number[]> {
    return Promise.all(
      versions.map(async (version, i) => {
        if (version !== MISSING_VERSION) return version
        const key = keys[i]!
        const set = await this.#o.run(method, undefined, () =>
          this.#o.backend.establish(key, newTagVersion()),
        )
        // A near copy of the tag says it has no version: now it has one.
        this.evictTag(key)
        return set
      }),
    )
  }

  /**
   * A fill's stamps (see stamps), read once the changes of its tags made before are done (an
   * invalidation held back, then applied, must not be missed by a fill made after it).
   */
  async stampsInOrder(
    order: CallOrder,
    method: CacheMethod,
    scope: Scope,
    settings: WriteSettings,
  ): Promise<TagStamp[] | undefined> {
    const before = settings.tags && order.before(tagKeys(scope, settings.tags), NONE)
    if (before) await before
    return this.stamps(method, scope, settings)
  }

  /**
   * Writes one prepared value; false when unlessExist found a value or the expiry is past. Not
   * an async function (nor is writeSealed): a write is the cache's hot path, and each async
   * layer costs a promise and a turn of the microtask queue per call.
   */
  writeOne(
    method: CacheMethod,
    name: string,
    full: string,
    prepared: Prepared,
    settings: WriteSettings,
    version: string | undefined,
    stamps: TagStamp[] | undefined,
    scope: Scope,
  ): Promise<boolean> {
    let sealed: Sealed | undefined
    try {
      sealed = sealEntry(prepared, settings, version, stamps, this.#o.clock(), method)
    } catch (error) {
      return Promise.reject(error)
    }
    if (!sealed) return Promise.resolve(false)
    return this.#set(method, name, full, sealed, settings.unlessExist ? scope : undefined, true)
  }

  /** SET of an already sealed entry. */
  writeSealed(method: CacheMethod, name: string, full: string, sealed: Sealed): Promise<boolean> {
    return this.#set(method, name, full, sealed, undefined, false)
  }

  /**
   * The SET itself, unless a live value is there when `unlessExist` (the key's scope) is given;
   * `counted`: a successful one is a write in the stats.
   */
  #set(
    method: CacheMethod,
    name: string,
    full: string,
    sealed: Sealed,
    unlessExist: Scope | undefined,
    counted: boolean,
  ): Promise<boolean> {
    const { bytes, ttl } = sealed
    const nx = unlessExist !== undefined
    this.evict(full)
    let setting = this.#o.run(
      method,
      name,
      () => this.#o.backend.set(full, bytes, ttl, nx ? this.#o.clock() : undefined),
      nx,
    )
    // No step more for a plain write: it is the cache's hot path.
    if (nx) {
      setting = setting.then((reply) =>
        isWritten(reply) ? reply : this.#overMissed(method, name, full, sealed, unlessExist),
      )
    }
    return setting.then((reply) => {
      const written = isWritten(reply)
      this.evict(full)
      if (written && counted) this.#o.stats.writes++
      return written
    })
  }

  /**
   * An unlessExist write that found a value: when that value is an entry every read misses (by
   * its tags, SPEC §3: an invalidated tag makes its entries misses; or a corrupt one), it is no
   * value, and the write replaces it, unless it changed meanwhile (set-unless-live-1.lua's
   * `stale`). Up to three round trips (GET, the tag versions, the script), paid only when an
   * unlessExist write finds a value.
   */
  async #overMissed(
    method: CacheMethod,
    name: string,
    full: string,
    sealed: Sealed,
    scope: Scope,
  ): Promise<SetReply> {
    const stale = await this.#o.reader.replaceableIdentity(method, scope, name, full)
    if (stale === undefined) return false
    return this.#o.run(
      method,
      name,
      () => this.#o.backend.set(full, sealed.bytes, sealed.ttl, this.#o.clock(), stale),
      true,
    )
  }

  /**
   * Writes prepared values sharing one set of write options: one pipeline of SETs per node.
   * `written`: called once they are on their connections (CallOrder.trackChange), unless
   * `unlessExist` may write again after the replies (an invalidated entry found in the way).
   * `overtaken`: a later change of one of the keys was made; the write is not sent again.
   */
  async writeMany(
    method: CacheMethod,
    items: readonly PendingWrite[],
    settings: WriteSettings,
    stamps: TagStamp[] | undefined,
    scope: Scope,
    written?: () => void,
    overtaken?: () => boolean,
  ): Promise<void> {
    const now = this.#o.clock()
    const writes: WriteItem[] = []
    const names: string[] = []
    for (const item of items) {
      const sealed = sealEntry(item.prepared, settings, item.version, stamps, now, method)
      if (!sealed) continue
      names.push(item.name)
      writes.push({
        key: item.full,
        value: sealed.bytes,
        ttl: sealed.ttl,
        unlessLiveAt: settings.unlessExist ? now : undefined,
      })
    }
    if (writes.length === 0) return
    for (const write of writes) this.evict(write.key)
    const results = await this.#o.run(
      method,
      undefined,
      () => this.#o.backend.setMany(writes, settings.unlessExist ? undefined : written),
      settings.unlessExist,
      overtaken,
    )
    // Keys whose value an unlessExist write found: each replaced if every read misses it.
    if (settings.unlessExist) {
      await Promise.all(
        writes.map(async (write, i) => {
          if (results[i]) return
          const reply = await this.#overMissed(
            method,
            names[i]!,
            write.key,
            { bytes: write.value, ttl: write.ttl },
            scope,
          )
          results[i] = isWritten(reply)
        }),
      )
    }
    for (const write of writes) this.evict(write.key)
    for (const written of results) if (written) this.#o.stats.writes++
  }

  /** UNLINK of one entry; true if it was there. */
  async remove(method: CacheMethod, name: string, full: string): Promise<boolean> {
    this.evict(full)
    const existed = await this.#o.run(method, name, () => this.#o.backend.delete(full))
    this.evict(full)
    if (existed) this.#o.stats.deletes++
    return existed
  }

  /** UNLINK of many entries, pipelined per node; how many were there. `written`, `overtaken`: see writeMany. */
  async removeMany(
    method: CacheMethod,
    fulls: readonly string[],
    written?: () => void,
    overtaken?: () => boolean,
  ): Promise<number> {
    for (const full of fulls) this.evict(full)
    const removed = await this.#o.run(
      method,
      undefined,
      () => this.#o.backend.deleteMany(fulls, written),
      false,
      overtaken,
    )
    for (const full of fulls) this.evict(full)
    this.#o.stats.deletes += removed
    return removed
  }

  /**
   * Own-write eviction: this process's near caches drop `full` when a change of it is sent (so a
   * read made after the call goes to Redis, behind the change on the same connection) and again
   * once Redis acknowledged it (a read made while a retry of the change was pending may have
   * brought the old value back meanwhile).
   */
  evict(full: string): void {
    this.#o.near?.evictEntry(full)
  }

  /** Own-write eviction of a tag version (see evict). */
  evictTag(key: string): void {
    this.#o.near?.evictTag(key)
  }
}

/** True if a write with these settings stamps its entries with tag versions (a round trip first). */
export function isStamped(settings: WriteSettings): boolean {
  return settings.tags !== undefined && settings.tags.length > 0 && !settings.raw
}
