import {
  ClosedError,
  CommandError,
  ConnectionError,
  isRedirection,
  isServerStateRefusal,
  isTransient,
  messageOf,
  TimeoutError,
} from './errors.ts'
import { backoffDelay, DEFAULT_RETRY } from './retry.ts'
import { sleep } from './sleep.ts'

/**
 * What the background loops (consume, tail, tailEvents, membership.inbox, the tracker's
 * heartbeat and recovery) do with a failure: a loop ends only when its signal aborts, the fleet
 * closes, or an error comes that repeating cannot fix (a command error such as WRONGTYPE, a bad
 * configuration). Everything else (lost connections, timeouts, a node known to be down, a
 * failover, a demoted master answering UNBLOCKED or READONLY, MOVED/ASK after a resharding or
 * a master restart, even once the cluster client gave up following them (a redirection storm),
 * LOADING after a restart, a server refusing writes for now: OOM, NOREPLICAS, MISCONF; a
 * blocking XREADGROUP is a write to Redis) passes: the loop reports it and tries again with
 * backoff.
 */

/** A failure a later attempt may not meet: the loop waits it out instead of ending. */
export function isPassing(error: unknown): boolean {
  if (error instanceof ClosedError) return false
  return (
    error instanceof ConnectionError ||
    error instanceof TimeoutError ||
    isTransient(error) ||
    isRedirection(error) ||
    isServerStateRefusal(error)
  )
}

/** A cluster redirection (MOVED/ASK, however wrapped): the slot moved, the next attempt follows. */
export { isRedirection }

/** A transient reply or a redirection: a failover, a resharding, a cluster down for a while. */
function isTopologyChange(error: unknown): boolean {
  return isRedirection(error) || (error instanceof CommandError && isTransient(error))
}

/**
 * How long a quiet loop rides out a transient reply before it says so: a failover or a master's
 * outage ends well within it; a cluster left down (a slot nobody serves) does not.
 */
export const QUIET_OUTAGE_LIMIT = 30_000

/**
 * The failure state of one loop: how many attempts in a row failed, and what was reported.
 * A run of failures is reported once per distinct error (the same outage is not reported on
 * every attempt); the first success ends the run, so the next outage is reported again.
 */
export class LoopBackoff {
  readonly #report: (error: unknown) => void
  readonly #quietOutages: boolean
  readonly #now: () => number
  #failures = 0
  /** When the run of failures began (`#now`). */
  #since = 0
  readonly #reported = new Set<string>()

  /**
   * `quietOutages`: what a node's outage or a topology change makes every loop on it meet is
   * not reported: a lost connection or a node known to be down, never (the fleet announces a
   * node going down once for all of them: SPEC §1, one warning per node per change of its
   * state); the replies a loop rides out (CLUSTERDOWN, UNBLOCKED by a failover, READONLY,
   * LOADING, TRYAGAIN, MOVED/ASK) only once the run has lasted QUIET_OUTAGE_LIMIT. For the loops
   * of blocking reads, each always in flight, so that every one of them meets each such event.
   * A read that gets no reply (a TimeoutError) is reported at once, once per node (FailingNodes).
   * `now` is the clock (tests).
   */
  constructor(
    report: (error: unknown) => void,
    options: { quietOutages?: boolean; now?: () => number } = {},
  ) {
    this.#report = report
    this.#quietOutages = options.quietOutages ?? false
    this.#now = options.now ?? performance.now.bind(performance)
  }

  /** An attempt succeeded: the next failure starts a new run. */
  succeeded(): void {
    if (this.#failures === 0) return
    this.#failures = 0
    this.#reported.clear()
  }

  /**
   * An attempt failed with `error` (a passing one): reports it unless this run already did,
   * and returns how long to wait before the next attempt (at most `cap` ms). A throwing report
   * is ignored: the error sink failing is no reason to end a loop.
   */
  delayAfter(error: unknown, cap = Number.POSITIVE_INFINITY): number {
    if (this.#failures++ === 0) this.#since = this.#now()
    const what = `${(error as { code?: unknown })?.code}:${messageOf(error)}`
    if (!this.#quiet(error) && !this.#reported.has(what)) {
      this.#reported.add(what)
      try {
        this.#report(error)
      } catch {
        // ignored, see above
      }
    }
    // The retry policy's curve: 50 ms doubling to 2 s, half of each delay random.
    return Math.min(cap, backoffDelay(this.#failures, DEFAULT_RETRY, Math.random))
  }

  #quiet(error: unknown): boolean {
    if (!this.#quietOutages) return false
    if (error instanceof ConnectionError) return true
    return isTopologyChange(error) && this.#now() - this.#since < QUIET_OUTAGE_LIMIT
  }

  /** `delayAfter`, then waits that long, or less if `signal` aborts. */
  failed(error: unknown, signal: AbortSignal): Promise<void> {
    return sleep(this.delayAfter(error), signal)
  }
}
