import { performance } from 'node:perf_hooks'

/**
 * Whether this process has been running lately. A process that did not run for a while (stopped
 * by SIGSTOP, a paused container, a stalled VM) resumes with what piled up meanwhile unread: a
 * connection closed by a restarted server, an invalidation lost with it. A near-cache read made
 * before that is read would serve a value changed long ago, so after such a gap the near cache
 * is not trusted until its trackings are enabled again (`stalled`).
 *
 * Armed while the fleet tracks (its TopologyWatch runs), whose timer calls `tick` every few
 * hundred ms; every near-cache read calls `awake`: one clock read. (Sharing one read among the
 * reads of a turn of the event loop, reset by a queued microtask, cost more than the clock.)
 */
export class StallGuard {
  readonly #now: () => number
  /** Disarmed: no gap is ever too long. */
  #limit = Number.POSITIVE_INFINITY
  #stalled: () => void = () => {}
  #lastTick = 0

  constructor(now: () => number = () => performance.now()) {
    this.#now = now
  }

  arm(limit: number, stalled: () => void): void {
    this.#limit = limit
    this.#stalled = stalled
    this.#lastTick = this.#now()
  }

  disarm(): void {
    this.#limit = Number.POSITIVE_INFINITY
  }

  tick(): void {
    this.#lastTick = this.#now()
  }

  /**
   * The time now, or undefined (after `stalled` ran, once per gap) when no tick came for longer
   * than the limit. The near cache's reads use the time too (see Vouch): one clock read.
   */
  awakeAt(): number | undefined {
    const now = this.#now()
    if (now - this.#lastTick <= this.#limit) return now
    this.#lastTick = now
    this.#stalled()
    return undefined
  }
}

/**
 * The gap after which the near cache stops trusting itself: four check intervals, and at least
 * one second, so that a busy event loop (a long synchronous task, a loaded machine) does not
 * flush it at every turn; but never longer than the invalidation bound (docs/cache.md), which
 * it keeps: a read made that long after a write was acknowledged follows a stall of that long
 * at least, if the write's invalidation is still unread (helper-320: with `connectTimeout: 300,
 * commandTimeout: 200` the bound is 700 ms, and a stall of 900 ms served the old value).
 */
export function stallLimit(checkInterval: number, bound: number): number {
  return Math.min(Math.max(1000, 4 * checkInterval), bound)
}
