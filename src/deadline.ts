import { MAX_TIMER_DELAY } from './validate.ts'

/**
 * Rejects with `expired()` when `work` has not settled after `ms`; `work` itself runs on. A
 * deadline past what a Node timer holds (two timeouts added, each within it) is kept at the
 * longest it holds, about 24.8 days: Node would fire it after 1 ms.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), Math.min(ms, MAX_TIMER_DELAY))
  })
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}

/** What `work` resolves to, or undefined once it rejects or has not settled after `ms`; it runs on. */
export function resultWithin<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  return Promise.race([work.catch(() => undefined), late]).finally(() => clearTimeout(timer))
}

/** What `firstEvent` listens on: Node's EventEmitter, or anything with its once/off. */
interface Emitter {
  once(event: string, listener: () => void): unknown
  off(event: string, listener: () => void): unknown
}

/** Resolves at the first of `events` on `emitter`, or after `ms`; its listeners are removed. */
export function firstEvent(emitter: Emitter, events: readonly string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      for (const event of events) emitter.off(event, done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    for (const event of events) emitter.once(event, done)
  })
}

/** `fn()` as a promise, a synchronous throw as its rejection. */
export function started<T>(fn: () => Promise<T>): Promise<T> {
  try {
    // Promise.resolve hands a native promise back as it is.
    return Promise.resolve(fn())
  } catch (error) {
    return Promise.reject(error)
  }
}
