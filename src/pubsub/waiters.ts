import { ClosedError, ConnectionError } from '../errors.ts'

interface Waiter {
  /** Settles the waiter when its condition holds; true if it did. */
  check(): boolean
  reject(error: unknown): void
}

/**
 * Promises that resolve when a condition on the hub's state becomes true. The hub calls
 * `changed()` after every state change (a confirmation, a reconnect, a move) and each waiter
 * re-checks its own condition: simpler to get right than one promise per event, and the
 * number of waiters at a time is small (callers of `ready()` and `clientId()`).
 */
export class Waiters {
  readonly #waiting = new Set<Waiter>()
  #closed = false

  /**
   * Resolves when `check()` is true; rejects with ConnectionError naming `what` after
   * `timeout` ms, with ClosedError on close, or with the signal's reason when it aborts.
   */
  until(check: () => boolean, what: string, timeout: number, signal?: AbortSignal): Promise<void> {
    return this.value(() => (check() ? true : undefined), what, timeout, signal).then(() => undefined)
  }

  /**
   * Like `until`, resolving with the first defined value `get()` returns. A `get` that throws
   * rejects the wait with what it threw (for failures that waiting longer cannot fix).
   */
  value<T>(get: () => T | undefined, what: string, timeout: number, signal?: AbortSignal): Promise<T> {
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
      const settle = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
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
      const timer = setTimeout(
        () => waiter.reject(new ConnectionError(`${what}: not confirmed by Redis within ${timeout} ms`)),
        timeout,
      )
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.add(waiter)
    })
  }

  /** Re-checks every waiter; call after anything that may have made a condition true. */
  changed(): void {
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
    for (const waiter of [...this.#waiting]) waiter.reject(new ClosedError('the fleet is closed'))
  }
}
