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
  /** Per entries base of a writing cache, the near caches that may hold its entries (see evictEntry). */
  readonly #holders = new Map<string, WeakRef<NearCache>[]>()
  /** One tracking per set of key prefixes (see trackingOf). */
  readonly #trackings = new Map<string, NearTracking>()
  /** The one periodic topology check its trackings share. */
  readonly topologyWatch = new TopologyWatch()
  #memory = false

  add(near: NearCache): void {
    this.#caches.add(new WeakRef(near))
    this.#holders.clear()
  }

  /**
   * The tracking of the near caches under `prefixes`, made by `make` the first time: cache
   * objects of one namespace share it, so a master has one control connection and one
   * CLIENT TRACKING registration per namespace, however many cache objects there are (one per
   * request would otherwise open a connection per node each and multiply every invalidation).
   */
  trackingOf(prefixes: readonly string[], make: () => NearTracking): NearTracking {
    const key = prefixes.join('\u0000')
    let tracking = this.#trackings.get(key)
    if (tracking === undefined) {
      tracking = make()
      this.#trackings.set(key, tracking)
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

  /**
   * Forgets the entry `full`, a key under `base` (the writing cache's entries base), in every near
   * cache that may hold it. Those are found once per base, not asked one by one on every change:
   * a write is the cache's hot path, and asking each near cache of the fleet whether it held the
   * key cost a write about a tenth of its throughput at 256 callers (bench/README.md).
   */
  evictEntry(full: string, base: string): void {
    let holders = this.#holders.get(base)
    if (holders === undefined) {
      holders = []
      for (const ref of this.#caches) if (ref.deref()?.mayHoldUnder(base)) holders.push(ref)
      this.#holders.set(base, holders)
    }
    for (const ref of holders) {
      const near = ref.deref()
      if (near !== undefined) near.evictEntry(full)
      else this.#forget(ref)
    }
  }

  /** Empties every near cache (a clear or deleteMatched through any cache object). */
  clear(): void {
    this.#each((near) => near.clear())
  }

  #each(action: (near: NearCache) => void): void {
    for (const ref of this.#caches) {
      const near = ref.deref()
      if (near === undefined) this.#forget(ref)
      else action(near)
    }
  }

  /** A near cache its user dropped: gone from the set, and from every list of holders. */
  #forget(ref: WeakRef<NearCache>): void {
    this.#caches.delete(ref)
    this.#holders.clear()
  }
}
