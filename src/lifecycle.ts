import { AsyncLocalStorage } from 'node:async_hooks'
import { setMaxListeners } from 'node:events'
import { ClosedError } from './errors.ts'
import { toldFailure } from './retry.ts'

/**
 * How long fleet.close() waits for user code a primitive handed work to (a stream handler, a
 * tracker's requeue or job) before it closes the connections anyway: close never hangs on it.
 * 5 s, in a setting so that tests can shorten it.
 */
export const closeGrace = { ms: 5000 }

/** Whether `work` settled within `ms` (it is not cancelled: only no longer waited for). */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const settled = work.then(
    () => true as const,
    () => true as const,
  )
  try {
    return await Promise.race([settled, late])
  } finally {
    clearTimeout(timer)
  }
}

/** What a promise from runUserCode resolves to when close() was called from inside that code. */
export const DETACHED: unique symbol = Symbol('redfleet.detached')

/** User code a fleet waits for on close, as seen from inside it (see runUserCode). */
interface UserCodeScope {
  readonly lifecycle: Lifecycle
  /** Told once, when close() is called from inside the code. */
  readonly detached: () => void
  told: boolean
  /** The user code this code runs inside (a tracked job inside another), waiting for it in turn. */
  readonly outer: UserCodeScope | undefined
}

const runningUserCode = new AsyncLocalStorage<UserCodeScope>()

/**
 * Every call that waits (a fetch joining another's fill, a fill lock's waiter, a tail) listens
 * for the close while it waits, and removes its listener when done: 256 concurrent callers are
 * 256 listeners, no leak, so Node's warning at 11 would only alarm the user.
 */
function withoutListenerLimit(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal)
  return controller
}

/**
 * Tracks what a fleet must stop on close: loops, timers and connections of every primitive.
 * `signal` aborts on close so that long-running loops end without polling a flag.
 */
export class Lifecycle {
  readonly #controller = withoutListenerLimit(new AbortController())
  readonly #cleanups = new Set<() => Promise<void> | void>()
  /** Closes of connections a cleanup began, waited for after every cleanup (see closesLast). */
  readonly #closingLast: Promise<unknown>[] = []
  #closing: Promise<void> | undefined
  /** When close() began (performance.now()), for graceLeft. */
  #closedAt: number | undefined
  /** Aborts once close has run every cleanup (the connections close then): the drain ends. */
  readonly #drained = withoutListenerLimit(new AbortController())

  get closed(): boolean {
    return this.#controller.signal.aborted
  }

  /**
   * close() has begun and the cleanups are still running, so the connections are still open:
   * work begun before close may finish its last step (see runFinishing in src/context.ts).
   */
  get draining(): boolean {
    return this.closed && !this.#drained.signal.aborted
  }

  /** Aborts once the drain ends (see draining): what was let through while it lasted stops waiting. */
  get drainedSignal(): AbortSignal {
    return this.#drained.signal
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  assertOpen(op: string): void {
    if (this.closed) throw new ClosedError(`${op}: the fleet is closed`)
  }

  /**
   * The rejection of a call refused because the fleet is closed, told as failures are
   * (toldFailure): a loop that calls again at once must still let the event loop turn.
   */
  refused(op: string): Promise<never> {
    return toldFailure(new ClosedError(`${op}: the fleet is closed`))
  }

  /** Registers a cleanup; returns a function that unregisters it (when the owner stops early). */
  onClose(cleanup: () => Promise<void> | void): () => void {
    this.#cleanups.add(cleanup)
    return () => this.#cleanups.delete(cleanup)
  }

  /**
   * For a cleanup that closes connections nothing after it needs (the near cache's tracking
   * connections): the fleet waits for `closing` once every cleanup ran, beside its own
   * connections (connectionsClosed), not before the next cleanup. A frozen node's connections
   * each wait out their QUIT limit: one after another, those limits added up.
   */
  closesLast(closing: Promise<unknown>): void {
    // Handled now, not when waited for: it may settle while the other cleanups run. Closing is
    // best effort (as for the cleanups): a close that failed is not close()'s failure.
    this.#closingLast.push(closing.then(ignore, ignore))
  }

  /** Resolves once what closesLast was handed settled. */
  async connectionsClosed(): Promise<void> {
    await Promise.all(this.#closingLast)
  }

  /**
   * Runs user code that close() waits for (a stream handler, a tracker's requeue). close() called
   * from inside it (a handler that awaits fleet.close()) cannot wait for it, as it waits for
   * close: `detached` is then told (at most once, maybe before `code` returns), and whoever waits
   * for the code must stop waiting, so that close drains everything else. The result is `code`'s.
   */
  runUserCode<T>(code: () => T, detached: () => void): T {
    const outer = runningUserCode.getStore()
    return runningUserCode.run({ lifecycle: this, detached, told: false, outer }, code)
  }

  /**
   * runUserCode for a caller that awaits the code: its promise resolves DETACHED at once when
   * close() is called from inside, while the code goes on unwaited. A result that is not a
   * promise is returned as it is.
   */
  awaitUserCode<T>(code: () => T): T | Promise<Awaited<T> | typeof DETACHED> {
    let release: (() => void) | undefined
    let detached = false
    const result = this.runUserCode(code, () => {
      detached = true
      release?.()
    })
    if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') return result
    const settling = Promise.resolve(result as PromiseLike<Awaited<T>>)
    if (detached) return Promise.resolve(detach(settling))
    return new Promise((resolve, reject) => {
      release = () => resolve(detach(settling))
      settling.then(resolve, reject)
    })
  }

  /**
   * Called by every close(), the first and those made while it runs: user code of this lifecycle
   * that calls it is no longer waited for (runUserCode), nor is the code of this lifecycle it
   * runs inside (a job tracked inside another job waits for close, and so does the outer one).
   */
  #detachCaller(): void {
    for (let caller = runningUserCode.getStore(); caller; caller = caller.outer) {
      if (caller.lifecycle !== this || caller.told) continue
      caller.told = true
      caller.detached()
    }
  }

  /**
   * How much of the grace (closeGrace) is left since close() began (all of it before): the primitives'
   * cleanups run one after another, and each waits for its user code only within what is left,
   * so that close waits that grace in all, not once per primitive.
   */
  graceLeft(): number {
    if (this.#closedAt === undefined) return closeGrace.ms
    return Math.max(0, closeGrace.ms - (performance.now() - this.#closedAt))
  }

  /** Runs every cleanup once, newest first (primitives before the connections they use). */
  close(): Promise<void> {
    this.#detachCaller()
    this.#closing ??= (async () => {
      this.#closedAt = performance.now()
      this.#controller.abort(new ClosedError('the fleet is closed'))
      const cleanups = [...this.#cleanups].reverse()
      this.#cleanups.clear()
      for (const cleanup of cleanups) {
        try {
          await cleanup()
        } catch {
          // Closing is best effort: one failing cleanup must not leave the others running.
        }
      }
      this.#drained.abort()
    })()
    return this.#closing
  }
}

/** The caller stops waiting for `code`; what it ends with then goes nowhere (close is under way). */
export function detach(code: PromiseLike<unknown>): typeof DETACHED {
  code.then(undefined, () => undefined)
  return DETACHED
}

/** What a closing connection ended with: nothing to do with it (see closesLast). */
function ignore(): void {}
