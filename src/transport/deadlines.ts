/** What a command that got no reply in time fails with (ioredis' words: errors.ts reads a timeout). */
export const timedOut = (): Error => new Error('Command timed out')

interface Pending {
  readonly deadline: number
  reject: ((error: Error) => void) | undefined
}

/**
 * The command timeout of one connection, for clients without a cheap one of their own (node-redis
 * 6 arms an AbortSignal timer per command). A connection answers in order, so the oldest command
 * in flight is the first to expire: one timer, set for the oldest deadline, covers them all.
 */
export class CommandDeadlines {
  readonly #timeout: number
  readonly #expired: () => Error
  /** In send order; settled ones are dropped from the front as the timer passes them. */
  #pending: Pending[] = []
  #head = 0
  #timer: NodeJS.Timeout | undefined

  /** `expired` makes the error of a command past its deadline (timedOut by default). */
  constructor(timeout: number, expired: () => Error = timedOut) {
    this.#timeout = timeout
    this.#expired = expired
  }

  /** `sent`, failed with a timeout error if it has not settled within the timeout. */
  track<T>(sent: Promise<T>): Promise<T> {
    const pending: Pending = { deadline: Date.now() + this.#timeout, reject: undefined }
    this.#pending.push(pending)
    this.#timer ??= setTimeout(this.#expire, this.#timeout).unref()
    return new Promise<T>((resolve, reject) => {
      pending.reject = reject
      sent.then(
        (reply) => {
          pending.reject = undefined
          resolve(reply)
        },
        (error: unknown) => {
          pending.reject = undefined
          reject(error)
        },
      )
    })
  }

  readonly #expire = (): void => {
    this.#timer = undefined
    const now = Date.now()
    const pending = this.#pending
    let head = this.#head
    while (head < pending.length) {
      const next = pending[head]!
      if (next.reject !== undefined && next.deadline > now) break
      next.reject?.(this.#expired())
      next.reject = undefined
      head++
    }
    if (head === pending.length) {
      this.#pending = []
      this.#head = 0
      return
    }
    // Compact now and then, so that the array does not grow with every command ever sent.
    if (head > 1024 && head * 2 > pending.length) {
      this.#pending = pending.slice(head)
      head = 0
    }
    this.#head = head
    this.#timer = setTimeout(this.#expire, this.#pending[head]!.deadline - now).unref()
  }
}
