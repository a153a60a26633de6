import type { NearCache } from './near.ts'

/**
 * Every near cache of a fleet on Redis. A change made through one cache object evicts its key
 * from all of them at once, as from its own, so a read through another object made after the
 * change does not serve the old value until Redis' invalidation arrives (SPEC §2: the fleet's
 * calls on one key keep their order, whichever object makes them). Held weakly: a cache object
 * its user dropped takes its near cache with it.
 */
export class NearCaches {
  readonly #caches = new Set<WeakRef<NearCache>>()

  add(near: NearCache): void {
    this.#caches.add(new WeakRef(near))
  }

  /** Forgets the Redis key `full` (an entry or a tag version) in every near cache. */
  invalidate(full: string): void {
    if (this.#caches.size !== 0) this.#each((near) => near.invalidate(full))
  }

  /** Empties every near cache (a clear or deleteMatched through any cache object). */
  clear(): void {
    this.#each((near) => near.clear())
  }

  #each(action: (near: NearCache) => void): void {
    for (const ref of this.#caches) {
      const near = ref.deref()
      if (near === undefined) this.#caches.delete(ref)
      else action(near)
    }
  }
}
