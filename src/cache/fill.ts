import { randomBytes } from 'node:crypto'

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

/** Polling delays: 5, 10, 20 … 100 ms apart. */
export function pollDelay(attempt: number): number {
  return Math.min(5 * 2 ** Math.min(attempt - 1, 5), 100)
}

/** The fallback waker: no notifications, polls. */
export const pollingWaker: FillWaker = {
  watch: () => ({
    wait: (ms, attempt, signal) => sleep(Math.min(ms, pollDelay(attempt)), signal),
    close() {},
  }),
  async notify() {},
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** A found value, told apart from "nothing there" (a cached value may be null). */
export type Found<T> = { value: T } | undefined

/** Shares one promise among concurrent callers of the same key in this process. */
export class SingleFlight {
  readonly #flights = new Map<string, Promise<unknown>>()

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const current = this.#flights.get(key)
    if (current) return current as Promise<T>
    const flight = fn().finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key)
    })
    this.#flights.set(key, flight)
    return flight
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
  /** Reads the entry again (failsafe: a failure is a miss, or rejects if the handler throws). */
  recheck: () => Promise<Found<T>>
  /** Computes and writes the value. */
  fill: () => Promise<T>
  /** Reports a failure of the lock itself (failsafe); may throw to fail the call. */
  report: (error: unknown) => void
}

/**
 * Runs `fill` under the fleet-wide lock of `key`, or waits for whoever holds it and returns what
 * they stored. After acquiring the lock the entry is read once more: another process may have
 * filled it between our miss and our lock, and computing again would break "exactly once".
 */
export async function fillWithLock<T>(o: LockedFill<T>): Promise<T> {
  const token = randomBytes(12).toString('base64')
  const deadline = Date.now() + o.timeout
  const watch = o.waker.watch(o.key)
  try {
    return await lockLoop(o, token, deadline, watch)
  } finally {
    watch.close()
  }
}

async function lockLoop<T>(o: LockedFill<T>, token: string, deadline: number, watch: FillWatch): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let held: boolean
    try {
      held = await o.lock(token)
    } catch (error) {
      o.report(error)
      return o.fill()
    }
    if (held) {
      try {
        const found = await o.recheck()
        return found ? found.value : await o.fill()
      } finally {
        await o.unlock(token).catch(() => {
          // The lock expires on its own after `timeout`; waiters poll meanwhile.
        })
        await o.waker.notify(o.key)
      }
    }
    const remaining = deadline - Date.now()
    // Waited as long as we may: compute ourselves rather than fail the caller.
    if (remaining <= 0) return o.fill()
    await watch.wait(remaining, attempt, o.signal)
    const found = await o.recheck()
    if (found) return found.value
  }
}
