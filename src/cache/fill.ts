import { randomBytes } from 'node:crypto'
import { onAbort } from '../signals.ts'

/**
 * Stampede protection for `fetch` misses, in two layers:
 *
 * - in-process single-flight: concurrent misses of one key in one process share one fill;
 * - a fleet-wide fill lock (SET NX PX lockTimeout): one process computes, the others wait until
 *   the value is there (woken by a fill notification, with polling as the fallback) and read it.
 *
 * The lock is advisory: when Redis fails, when the holder is slower than `lockTimeout`, or when
 * it gives up without a value, waiters compute themselves; the value is always returned.
 */

/** Wakes waiters when a fill of `key` ends (with a value or not). */
export interface FillWaker {
  /**
   * Starts listening for the end of a fill of `key`, before the caller checks the lock, so that
   * a notification sent in between is not lost.
   */
  watch(key: string): FillWatch
  /** Tells every process of the fleet that the fill of `key` ended. Never rejects. */
  notify(key: string): Promise<void>
}

export interface FillWatch {
  /**
   * Resolves when the fill may have ended (a notification since the last wait) or after a
   * while, at most `ms`; `attempt` counts from 1 so polling can back off. Rejects when `signal`
   * aborts.
   */
  wait(ms: number, attempt: number, signal: AbortSignal): Promise<void>
  close(): void
}

/** A found value, told apart from "nothing there" (a cached value may be null). */
export type Found<T> = { value: T } | undefined

/** Shares one promise among concurrent callers of the same key in this process. */
export class SingleFlight {
  readonly #flights = new Map<string, { promise: Promise<unknown>; superseded: () => boolean }>()
  readonly #signal: AbortSignal | undefined

  /** `signal` (the fleet's close) ends the waits of those who joined a flight. */
  constructor(signal?: AbortSignal) {
    this.#signal = signal
  }

  /**
   * `fn`'s result for the first caller of `key`; for those who join it, `share` of it. A flight
   * `superseded` (its key changed since it began, so what it computes is not a later caller's
   * to return) is not joined: the next caller starts a flight of its own. A joiner's wait ends
   * at close with `closed(reason)`: the flight runs its first caller's code, which may never
   * settle, and a joiner gave none of it.
   */
  run<T>(
    key: string,
    fn: () => Promise<T>,
    share: (value: T) => T,
    superseded: () => boolean,
    closed: (reason: unknown) => unknown = (reason) => reason,
  ): Promise<T> {
    const current = this.#flights.get(key)
    if (current && !current.superseded()) return this.#join(current.promise as Promise<T>, share, closed)
    const flight = fn().finally(() => {
      if (this.#flights.get(key)?.promise === flight) this.#flights.delete(key)
    })
    this.#flights.set(key, { promise: flight, superseded })
    return flight
  }

  #join<T>(flight: Promise<T>, share: (value: T) => T, closed: (reason: unknown) => unknown): Promise<T> {
    const signal = this.#signal
    if (signal === undefined) return flight.then(share)
    if (signal.aborted) return Promise.reject(closed(signal.reason))
    return new Promise<T>((resolve, reject) => {
      // Through onAbort: 20,000 joiners of one flight each adding a listener of the fleet's signal
      // cost 20,000 × 20,000 steps in Node's EventTarget (helper-319).
      const stopListening = onAbort(signal, () => reject(closed(signal.reason)))
      flight.then(share).then(resolve, reject).finally(stopListening)
    })
  }
}

export interface LockedFill<T> {
  /** SET NX PX of the fill lock under `token`: true if this caller now holds it. */
  lock: (token: string) => Promise<boolean>
  /** Releases the fill lock if `token` still holds it. */
  unlock: (token: string) => Promise<void>
  /** The entry key, for notifications. */
  key: string
  timeout: number
  waker: FillWaker
  signal: AbortSignal
  /** Reads the entry again; rejects when the read fails. */
  recheck: () => Promise<Found<T>>
  /** Computes and writes the value. */
  fill: () => Promise<T>
  /** Reports a failure (failsafe); may throw to fail the call. */
  report: (error: unknown) => void
  /** The error of a wait ended by close (`reason`, the signal's): one naming the call and key. */
  closed: (reason: unknown) => unknown
  /** True for a failure that may pass by itself (a dropped connection, a failover). */
  transient: (error: unknown) => boolean
  /**
   * Milliseconds on a monotonic clock, for the deadline; performance.now by default: on the wall
   * clock, a step of it (NTP) ended a wait at once and computed while the holder still did.
   */
  now?: () => number
}

/**
 * Runs `fill` under the fleet-wide lock of `key`, or waits for whoever holds it and returns what
 * they stored. After acquiring the lock the entry is read once more: another process may have
 * filled it between our miss and our lock, and computing again would break "exactly once".
 *
 * Failures: if the first lock attempt fails, Redis is failing and the value is computed without
 * the lock (the failure is reported). A waiter, who saw the lock held, rides out transient
 * failures of its own commands until its deadline (the holder is still computing and will store
 * the value), then computes itself. Close (the signal) ends every wait with `closed(reason)`.
 */
export async function fillWithLock<T>(o: LockedFill<T>): Promise<T> {
  const token = randomBytes(12).toString('base64')
  const now = o.now ?? (() => performance.now())
  const deadline = now() + o.timeout
  const watch = o.waker.watch(o.key)
  try {
    for (let attempt = 1; ; attempt++) {
      let held: boolean | undefined
      try {
        held = await o.lock(token)
      } catch (error) {
        if (attempt === 1 || !o.transient(error) || deadline - now() <= 0) {
          o.report(error)
          return await o.fill()
        }
      }
      if (held === true) return await fillHeld(o, token)
      const remaining = deadline - now()
      // Waited as long as we may: compute ourselves rather than fail the caller.
      if (remaining <= 0) return await o.fill()
      await waitForFill(o, watch, remaining, attempt)
      const found = await recheckWaiting(o)
      if (found) return found.value
    }
  } finally {
    watch.close()
  }
}

/** Waits for the holder's fill to end; close ends the wait with the caller's own ClosedError. */
async function waitForFill<T>(
  o: LockedFill<T>,
  watch: FillWatch,
  ms: number,
  attempt: number,
): Promise<void> {
  try {
    await watch.wait(ms, attempt, o.signal)
  } catch (error) {
    throw o.signal.aborted ? o.closed(error) : error
  }
}

/** Holding the lock: read once more, compute only if still missing, release, wake the waiters. */
function fillHeld<T>(o: LockedFill<T>, token: string): Promise<T> {
  return holdingLock(
    { signal: o.signal, unlock: () => o.unlock(token), notify: () => o.waker.notify(o.key) },
    async () => {
      let found: Found<T>
      try {
        found = await o.recheck()
      } catch (error) {
        o.report(error)
      }
      return found ? found.value : await o.fill()
    },
  )
}

/** A fill lock held by this process, as holdingLock gives it back. */
export interface HeldLock {
  /** The fleet's close. */
  signal: AbortSignal
  /** Releases the lock if this holder's token still holds it. */
  unlock: () => Promise<void>
  /** Tells the waiters of every process that the fill ended. Never rejects. */
  notify: () => Promise<void>
}

/**
 * Runs `work` under a fill lock, then releases it and wakes the waiters, in that order (a waiter
 * woken before the release would find the lock still taken). Close does not wait for a compute,
 * and what one computes is not stored once the fleet closed: as close begins, while the
 * connections and the pub/sub hub are still open, the lock is given back and the waiters woken
 * at once, so that another process takes the lock rather than wait out its `timeout`.
 */
export async function holdingLock<T>(lock: HeldLock, work: () => Promise<T>): Promise<T> {
  let released: Promise<unknown> | undefined
  const giveBack = () => {
    released ??= Promise.all([lock.unlock().catch(ignore), lock.notify()])
  }
  const stopListening = onAbort(lock.signal, giveBack)
  try {
    return await work()
  } finally {
    stopListening()
    released ??= lock.unlock().catch(ignore).then(lock.notify)
    await released
  }
}

/** A release that failed: the lock expires on its own after its timeout; waiters poll meanwhile. */
function ignore(): void {}

/** A waiter's look at the entry: a transient failure is a miss (keep waiting), others are reported. */
async function recheckWaiting<T>(o: LockedFill<T>): Promise<Found<T>> {
  try {
    return await o.recheck()
  } catch (error) {
    if (!o.transient(error)) o.report(error)
    return undefined
  }
}
