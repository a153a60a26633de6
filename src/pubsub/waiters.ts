import { ClosedError, ConnectionError } from '../errors.ts'
import { linkSignals } from '../signals.ts'
import { sleep } from '../sleep.ts'

interface Waiter {
  /** Settles the waiter when its condition holds; true if it did. */
  check(): boolean
  reject(error: unknown): void
}

/**
 * A step a wait may outlast its timeout for: a channel's placement waiting for the topology to
 * open, whose failure (not a cluster) is what the caller needs to hear rather than that the wait
 * ran out first. `step()` is the step under way, if any; it is waited for at most `limit` ms
 * more (the opening's own deadline), so a step that never settles cannot make a wait endless.
 */
export interface UnderWay {
  step(): Promise<void> | undefined
  limit: number
}

/**
 * Promises that resolve when a condition on the hub's state becomes true. The hub calls
 * `changed()` after every state change (a confirmation, a reconnect, a move) and each waiter
 * re-checks its own condition: simpler to get right than one promise per event. The changes of
 * one turn of the event loop are re-checked once, at its end: 10,000 subscriptions made at once
 * are placed one by one, and re-checking every waiter at each placement was 10,000 × 10,000
 * checks, which froze the process for seconds and timed every `ready()` out (helper-316).
 */
export class Waiters {
  readonly #waiting = new Set<Waiter>()
  #closed = false
  /** A re-check is queued for the end of this turn of the event loop. */
  #recheck: NodeJS.Immediate | undefined

  /**
   * Resolves when `check()` is true; rejects with ConnectionError naming `what` after
   * `timeout` ms, with ClosedError on close, or with the signal's reason when it aborts.
   */
  until(
    check: () => boolean,
    what: string,
    timeout: number,
    signal?: AbortSignal,
    underWay?: UnderWay,
  ): Promise<void> {
    return this.value(() => (check() ? true : undefined), what, timeout, signal, underWay).then(
      () => undefined,
    )
  }

  /**
   * Like `until`, resolving with the first defined value `get()` returns. A `get` that throws
   * rejects the wait with what it threw (for failures that waiting longer cannot fix). At the
   * timeout, a step under way (see UnderWay) is let finish and the condition checked once more.
   */
  value<T>(
    get: () => T | undefined,
    what: string,
    timeout: number,
    signal?: AbortSignal,
    underWay?: UnderWay,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError(`${what}: the fleet is closed`))
    if (signal?.aborted) return Promise.reject(signal.reason)
    let now: T | undefined
    try {
      now = get()
    } catch (error) {
      return Promise.reject(error)
    }
    if (now !== undefined) return Promise.resolve(now)
    return new Promise<T>((resolve, reject) => {
      // Aborted once the waiter settles: ends the wait for a step under way at the timeout.
      const stepping = new AbortController()
      // The caller's signal may be shared by many waits at once (one shutdown signal for every
      // subscription): linked, it carries one listener for all of them, not one each.
      const aborted = signal === undefined ? undefined : linkSignals(signal)
      const settle = () => {
        stepping.abort()
        clearTimeout(timer)
        aborted?.signal.removeEventListener('abort', onAbort)
        aborted?.unlink()
        this.#waiting.delete(waiter)
      }
      const waiter: Waiter = {
        check: () => {
          const value = get()
          if (value === undefined) return false
          settle()
          resolve(value)
          return true
        },
        reject: (error) => {
          settle()
          reject(error)
        },
      }
      const onAbort = () => waiter.reject(signal?.reason)
      const timedOut = () =>
        waiter.reject(new ConnectionError(`${what}: not confirmed by Redis within ${timeout} ms`))
      const timer = setTimeout(() => {
        // A condition that came true in this turn, its re-check still queued, is no time-out.
        try {
          if (waiter.check()) return
        } catch (error) {
          return waiter.reject(error)
        }
        const step = underWay?.step()
        if (step === undefined) return timedOut()
        void Promise.race([step, sleep(underWay!.limit, stepping.signal)]).then(() => {
          if (stepping.signal.aborted) return
          try {
            if (!waiter.check()) timedOut()
          } catch (error) {
            waiter.reject(error)
          }
        })
      }, timeout)
      aborted?.signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.add(waiter)
    })
  }

  /** Re-checks every waiter at the end of this turn; call after anything that may have made a condition true. */
  changed(): void {
    if (this.#recheck !== undefined || this.#waiting.size === 0) return
    this.#recheck = setImmediate(() => {
      this.#recheck = undefined
      this.#checkAll()
    })
  }

  #checkAll(): void {
    for (const waiter of [...this.#waiting]) {
      try {
        waiter.check()
      } catch (error) {
        waiter.reject(error)
      }
    }
  }

  close(): void {
    this.#closed = true
    clearImmediate(this.#recheck)
    this.#recheck = undefined
    for (const waiter of [...this.#waiting]) waiter.reject(new ClosedError('the fleet is closed'))
  }
}
