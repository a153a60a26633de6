import type { RedisTopology } from '../topology/types.ts'
import { StallGuard } from './stall-guard.ts'

/** What one periodic look asks of a near cache's tracking (NearTracking). */
export interface Watched {
  /** Each tracked master answers ROLE (or its tracking is enabled again). */
  checkNodes(): Promise<unknown>
  /** Re-reads the masters from the slot map as it is now. */
  sync(): Promise<void>
  /** Stops vouching for anything until each master's tracking is enabled again (a stall). */
  restart(): void
}

/**
 * The fleet's one periodic look at what no event reports (a CLUSTER FAILOVER that leaves every
 * connection open, a REPLICAOF), shared by the trackings of all its near caches: the slot map is
 * checked once per interval, however many cache namespaces track, and reloaded only when it
 * changed (each reload opens a connection of its own: checkLayout), while each tracking's
 * masters answer ROLE, then each tracking re-reads its masters.
 */
export class TopologyWatch {
  readonly #watched = new Set<Watched>()
  #timer: NodeJS.Timeout | undefined
  /** Ticked by the timer; a gap in its ticks restarts every tracking. Near caches ask it. */
  readonly guard = new StallGuard()
  #owners: (string | undefined)[] | undefined
  /** `#owners` was read from the client in this run of code (see slotOwners). */
  #ownersRead = false

  /**
   * Looks at `topology` every `interval` ms for `watched`, until the returned function is called;
   * a gap of more than `stallLimit` ms in its ticks restarts every tracking.
   */
  add(topology: RedisTopology, interval: number, stallLimit: number, watched: Watched): () => void {
    this.#watched.add(watched)
    if (this.#timer === undefined) {
      this.guard.arm(stallLimit, () => this.#restart())
      this.#timer = setInterval(() => void this.#check(topology), interval)
      this.#timer.unref()
    }
    return () => {
      this.#watched.delete(watched)
      if (this.#watched.size > 0) return
      clearInterval(this.#timer)
      this.#timer = undefined
      this.guard.disarm()
    }
  }

  #restart(): void {
    for (const watched of this.#watched) watched.restart()
  }

  /**
   * The master of every slot, shared by the trackings: the same array as long as no slot changed
   * hands, so that a tracking sees a change by identity rather than by comparing 16384 slots of
   * its own (per namespace, at every sync, that took most of a core). Read from the client once
   * per run of code: the trackings' syncs after one event or check all start in the same one.
   */
  slotOwners(topology: RedisTopology): (string | undefined)[] | undefined {
    if (this.#ownersRead) return this.#owners
    this.#ownersRead = true
    queueMicrotask(() => {
      this.#ownersRead = false
    })
    const owners = topology.slotOwners()
    if (!sameOwners(owners, this.#owners)) this.#owners = owners
    return this.#owners
  }

  async #check(topology: RedisTopology): Promise<void> {
    // A timer that had not run for long (the process stopped) finds it out here at the latest.
    if (this.guard.awakeAt() !== undefined) this.guard.tick()
    const watched = [...this.#watched]
    // The roles alongside the slot map, not after it: node-redis reads the slot map from one
    // master, with no deadline, and a frozen one held back the ROLE check that stops it vouching.
    await Promise.all([topology.checkLayout(), ...watched.map((w) => w.checkNodes())])
    await Promise.all(watched.map((w) => w.sync()))
  }
}

function sameOwners(a: (string | undefined)[] | undefined, b: (string | undefined)[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  for (let slot = 0; slot < a.length; slot++) if (a[slot] !== b[slot]) return false
  return a.length === b.length
}
