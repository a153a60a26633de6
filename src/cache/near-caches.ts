import type { NearCache } from './near.ts'
import { TopologyWatch } from './topology-watch.ts'
import type { NearTracking } from './tracking.ts'

/**
 * Every near cache of a fleet. A change made through one cache object evicts its key
 * from all of them at once, as from its own, so a read through another object made after the
 * change does not serve the old value until Redis' invalidation arrives (SPEC §2: the fleet's
 * calls on one key keep their order, whichever object makes them). Held weakly: a cache object
 * its user dropped takes its near cache with it.
 */
export class NearCaches {
  readonly #caches = new Set<WeakRef<NearCache>>()
  /** Forgets a collected near cache's reference (a process that only reads prunes nothing). */
  readonly #collected = new FinalizationRegistry<WeakRef<NearCache>>((ref) => this.#caches.delete(ref))
  /** Counts the near caches added: a list of holders (see evictionFor) made before is out of date. */
  #generation = 0
  /** One tracking per set of key prefixes (see trackingOf). */
  readonly #trackings = new Map<string, NearTracking>()
  /** The one periodic topology check its trackings share. */
  readonly topologyWatch = new TopologyWatch()
  #memory = false

  add(near: NearCache): void {
    const ref = new WeakRef(near)
    this.#caches.add(ref)
    this.#collected.register(near, ref)
    this.#generation++
  }

  get generation(): number {
    return this.#generation
  }

  /** The near caches that may hold a key under `base` now (see NearCache.mayHoldUnder). */
  holdersUnder(base: string): WeakRef<NearCache>[] {
    const holders: WeakRef<NearCache>[] = []
    this.#each((near, ref) => {
      if (near.mayHoldUnder(base)) holders.push(ref)
    })
    return holders
  }

  /**
   * What the changes of a cache whose entries are under `base` evict from: the near caches that
   * may hold its keys, found when a near cache was added since, not asked one by one on every
   * change (a write is the cache's hot path: asking every near cache of the fleet cost a write
   * about a tenth of its throughput at 256 callers, bench/README.md). One per cache object, gone
   * with it: a process that writes through a namespace per user keeps nothing per namespace.
   */
  evictionFor(base: string): NearEviction {
    return new HoldersUnder(this, base)
  }

  /**
   * The tracking of the near caches under `prefixes`, made by `make` the first time: cache
   * objects of one namespace share it, so a master has one control connection and one
   * CLIENT TRACKING registration per namespace, however many cache objects there are (one per
   * request would otherwise open a connection per node each and multiply every invalidation).
   * `make` is given what the tracking calls once its last near cache is gone: the next near cache
   * of these prefixes gets a new one.
   */
  trackingOf(prefixes: readonly string[], make: (unused: () => void) => NearTracking): NearTracking {
    const key = prefixes.join('\u0000')
    let tracking = this.#trackings.get(key)
    if (tracking === undefined) {
      const made = make(() => {
        if (this.#trackings.get(key) === made) this.#trackings.delete(key)
      })
      this.#trackings.set(key, made)
      tracking = made
    }
    return tracking
  }

  /**
   * On memory: every change a memory cache makes evicts its key from these near caches, through
   * one listener per fleet, registered the first time (`listen`) and stopped when the fleet
   * closes (`onClose`), which takes every near cache offline.
   */
  followMemory(
    listen: (invalidate: (full: string) => void) => () => void,
    onClose: (cleanup: () => void) => void,
  ): void {
    if (this.#memory) return
    this.#memory = true
    const stop = listen((full) => this.invalidate(full))
    onClose(() => {
      stop()
      this.#each((near) => near.setOnline(false))
    })
  }

  /** Forgets the Redis key `full` (an entry or a tag version) in every near cache. */
  invalidate(full: string): void {
    if (this.#caches.size !== 0) this.#each((near) => near.invalidate(full))
  }

  /** Empties every near cache (a clear or deleteMatched through any cache object). */
  clear(): void {
    this.#each((near) => near.clear())
  }

  #each(action: (near: NearCache, ref: WeakRef<NearCache>) => void): void {
    for (const ref of this.#caches) {
      const near = ref.deref()
      if (near === undefined) this.#caches.delete(ref)
      else action(near, ref)
    }
  }
}

/** Where a cache's changes evict their keys from (see NearCaches.evictionFor). */
export interface NearEviction {
  /** A change of an entry of the cache. */
  evictEntry(full: string): void
  /** A change of a tag version: evicted from every near cache. */
  evictTag(key: string): void
}

/** On memory, a cache's own near cache: the others hear every change from the memory backend. */
export function ownEviction(near: NearCache): NearEviction {
  return { evictEntry: (full) => near.invalidate(full), evictTag: (key) => near.invalidate(key) }
}

/** The near caches of a fleet that may hold the entries under one base, kept up to date. */
class HoldersUnder implements NearEviction {
  readonly #all: NearCaches
  readonly #base: string
  #holders: WeakRef<NearCache>[] = []
  #generation = -1

  constructor(all: NearCaches, base: string) {
    this.#all = all
    this.#base = base
  }

  evictEntry(full: string): void {
    if (this.#generation !== this.#all.generation) {
      this.#holders = this.#all.holdersUnder(this.#base)
      this.#generation = this.#all.generation
    }
    // A holder dropped since is skipped (NearCaches forgets it at its next pass).
    for (const ref of this.#holders) ref.deref()?.invalidate(full)
  }

  evictTag(key: string): void {
    this.#all.invalidate(key)
  }
}
