import { ClosedError } from '../errors.ts'
import { LoopBackoff } from '../loops.ts'

/**
 * A step run every `interval` ms until stop(): the tracker's heartbeat and its recovery pass.
 * A failed step (Redis down, a failover, a demoted master) is reported once per outage
 * (src/loops.ts) and tried again with backoff, at most `interval` later, so the loop resumes as
 * soon as Redis does. A ClosedError (the fleet closing) is not a failure to back off from.
 */
export class PeriodicLoop {
  readonly #interval: number
  readonly #step: () => Promise<unknown>
  readonly #backoff: LoopBackoff
  #running = false
  #timer: NodeJS.Timeout | undefined
  /** The step in progress, which stop() waits for. */
  #current: Promise<void> | undefined

  constructor(interval: number, step: () => Promise<unknown>, report: (error: unknown) => void) {
    this.#interval = interval
    this.#step = step
    this.#backoff = new LoopBackoff(report)
  }

  /** Runs the first step `delay` ms from now, then one every interval. */
  start(delay = this.#interval): void {
    this.#running = true
    this.#schedule(delay)
  }

  /** No further step; resolves once the step in progress (if any) has settled. */
  async stop(): Promise<void> {
    this.#running = false
    clearTimeout(this.#timer)
    await this.#current
  }

  #schedule(delay: number): void {
    this.#timer = setTimeout(() => {
      let next = this.#interval
      this.#current = this.#step()
        .then(
          () => this.#backoff.succeeded(),
          (error: unknown) => {
            if (!(error instanceof ClosedError)) next = this.#backoff.delayAfter(error, this.#interval)
          },
        )
        .finally(() => {
          this.#current = undefined
          if (this.#running) this.#schedule(next)
        })
    }, delay)
    // A library timer must never be what keeps a process alive.
    this.#timer.unref()
  }
}
