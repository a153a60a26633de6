import { MAX_TIMER_DELAY } from '../validate.ts'

/**
 * What a command that got no reply in time fails with (ioredis' words: errors.ts reads a timeout),
 * naming the node when the connection knows it: with one of three frozen, an operator must tell
 * which (helper-187, helper-191).
 */
export const timedOut = (node?: string, within?: number): Error =>
  new Error(
    node === undefined ? 'Command timed out' : `Command timed out: no reply from ${node} within ${within} ms`,
  )

/**
 * What a command past its deadline fails with when its connection dropped before it was written
 * and it could not be withdrawn: node-redis keeps it for its next connection, so Redis may yet
 * apply it (a lost connection, outcome unknown: errors.ts reads "Socket closed unexpectedly").
 */
export const lostUnwritten = (): Error =>
  new Error(
    'Socket closed unexpectedly before the command was written: the client may still write it on its next connection',
  )

/**
 * What a command that waited past its deadline without ever being written fails with (node-redis'
 * words, "The client is offline": errors.ts reads it as a ConnectionError Redis did not apply).
 */
export const notSentInTime = (node?: string): Error =>
  new Error(
    `The client is offline: no connection to Redis${node === undefined ? '' : ` at ${node}`} while the command waited`,
  )

/**
 * Something in flight that a deadline can fail. An ioredis Command is one as it is (`isSettled`
 * in ioredis 6, `isResolved` only in 5, where a failed command stays unsettled: failing it again
 * at its deadline does nothing).
 */
export interface Timed {
  readonly isSettled?: boolean
  readonly isResolved?: boolean
  reject(error: Error): void
}

/**
 * How long past commandTimeout the command `name` (its arguments from `args[offset]` on) may
 * take to answer: WAIT and WAITAOF block for up to their own timeout (SPEC §10 `waitFor.timeout`),
 * which a commandTimeout below it would otherwise cut off as if the node did not answer.
 */
export function blocksFor(name: string, args: readonly unknown[], offset: number): number {
  if (name.length !== 4 && name.length !== 7) return 0
  const lower = name.toLowerCase()
  const at = lower === 'wait' ? 1 : lower === 'waitaof' ? 2 : -1
  if (at < 0) return 0
  const timeout = Number(args[offset + at])
  return Number.isFinite(timeout) && timeout > 0 ? timeout + WAIT_ENDS_LATE : 0
}

/**
 * How late past its timeout Redis may answer a WAIT or WAITAOF: it ends them from its server
 * cron, 10 times a second by default (`hz`), so a WAIT of 50 ms on a replica that does not answer
 * takes 100 ms (measured on 7.0).
 */
const WAIT_ENDS_LATE = 100

const settled = (item: Timed): boolean => item.isSettled === true || item.isResolved === true

/** Stands in for a command its connection answered and handed over to another (handedOver). */
const HANDED_OVER: Timed = { isSettled: true, reject: () => undefined }

/**
 * How long a tick may run, from a command's adding to its write at the tick's end, before the
 * command's clock is restarted at the write (CommandDeadlines.#written): a stall, not a busy tick.
 */
const STALL = 20

/**
 * The process's monotonic clock (performance.now), which a step of the wall clock does not move:
 * stalls of the process are measured on it, and the probes of a down node spaced (health.ts). A
 * setting so that tests on faked timers can fake it too: a loaded machine's own stalls would
 * move their deadlines on past what they tick.
 */
export const processClock = { now: (): number => performance.now() }

/**
 * The clock command deadlines are on: monotonic (performance.now), so that a step of the wall
 * clock back does not hold every deadline of a connection back by the step (a frozen node's
 * commands waited 10 minutes after a 10-minute step), nor a step forward fail commands early.
 * A setting so that tests on faked timers fake it with their Date.
 */
export const deadlineClock = { now: (): number => performance.now() }

/** Let-go slots at the front of the arrays past which they are cut off (see #compact). */
const BACKLOG = 1024

/**
 * The command timeout of one connection, for clients without a cheap one of their own (ioredis
 * arms a timer per command, node-redis 6 an AbortSignal). A connection answers in order, so the
 * oldest command in flight is the first to expire: one timer, set for the oldest deadline,
 * covers them all.
 */
export class CommandDeadlines {
  readonly #timeout: number
  readonly #expired: (item: Timed) => Error
  /** In send order, with each one's deadline; settled ones are let go from the front. */
  #items: (Timed | undefined)[] = []
  #deadlines: number[] = []
  /** Each one's deadline counted from its own sending, not after the one ahead (see #stalled). */
  #own: number[] = []
  /** Each one's allowance (a WAIT's own timeout), and their sum over those not let go yet. */
  #allowances: number[] = []
  #allowanceAhead = 0
  /**
   * A command failed at its deadline with no reply, and none has been answered since: the
   * connection does not answer (a frozen server), so no command is waiting for a WAIT ahead of
   * it to end, and each is failed at its own deadline. Chained behind one another, WAITs queued
   * on a frozen server (waitFor writes, 300 ms each) held every command behind them for as long
   * as it stayed frozen (helper-193: 12 s).
   */
  #stalled = false
  /**
   * When a command was last seen answered (let go from the front). The oldest command still
   * waiting has nothing ahead of it since then: it owes an answer within the timeout and its own
   * allowance from then, however many WAITs were ahead of it when it was sent (see #dueAt).
   */
  #answeredAt = 0
  #head = 0
  /** The first command added in this tick (see #written), -1 when none is. */
  #writtenFrom = -1
  #timer: NodeJS.Timeout | undefined
  /** When the timer fires. */
  #timerAt = 0

  /** `expired` makes the error of a command past its deadline (timedOut by default). */
  constructor(timeout: number, expired: (item: Timed) => Error = () => timedOut()) {
    this.#timeout = timeout
    this.#expired = expired
  }

  /** How many commands it still references (settled ones included until they are let go). */
  get holding(): number {
    return this.#items.length - this.#head
  }

  /**
   * `item` is failed with the timeout error unless it has settled within the timeout, plus
   * `allowance` ms (a WAIT's own timeout: blocksFor), plus the allowances of the commands still
   * ahead of it: a connection answers in order, so what waits behind a WAIT waits with it, and a
   * WAIT behind another one blocks only once that one has answered (50 WAITs of 50 ms sent at
   * once on a connection take up to 2.5 s in all). Counted from now with what is still ahead,
   * not from the deadline ahead: under steady `waitFor` writes each deadline so chained lay
   * 100 ms further out than the last, 8 s after 20 s (helper-194). The oldest one still waiting
   * is also failed once nothing was answered for the timeout plus its own allowance (#dueAt).
   * Never failed before an item sent ahead of it.
   */
  add(item: Timed, allowance = 0): void {
    // Settled commands are let go as new ones are sent, not when the timer next fires: an
    // ioredis command keeps its reply (an MGET's 100 values), and a connection busy with
    // 300,000 commands a second would keep every one for the whole timeout, long enough for the
    // garbage collector to copy them all to its old generation. A connection answers in order,
    // so the settled ones are at the front.
    const now = deadlineClock.now()
    this.#dropSettled(now)
    const own = now + this.#timeout + allowance
    const deadline = this.#stalled ? own : own + this.#allowanceAhead
    this.#items.push(item)
    this.#deadlines.push(deadline)
    this.#own.push(own)
    this.#allowances.push(allowance)
    this.#allowanceAhead += allowance
    if (this.#writtenFrom < 0) {
      this.#writtenFrom = this.#items.length - 1
      process.nextTick(this.#written, processClock.now())
    }
    // The timer is set for the oldest command's due (#expire fails them in order). Set for one
    // answered since (a WAIT's later deadline), it would fire past the next one's.
    const due = this.#dueAt(this.#head)
    if (this.#timer !== undefined && due < this.#timerAt) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#timer === undefined) this.#arm(now, due)
  }

  /**
   * At the end of the tick the commands from `#writtenFrom` on were added in, when the client
   * writes them: a stall of the process between a command's adding and that write (the rest of
   * a reply handler, a long GC pause) ran its clock while Redis could not have it. Their clocks
   * move on by the stall; without one (a tick takes under STALL ms) nothing moves. `addedAt`:
   * when the first of them was added, on the monotonic clock (processClock).
   */
  readonly #written = (addedAt: number): void => {
    const from = Math.max(this.#writtenFrom, this.#head)
    this.#writtenFrom = -1
    const waited = processClock.now() - addedAt
    if (waited < STALL) return
    for (let i = from; i < this.#items.length; i++) {
      this.#own[i]! += waited
      this.#deadlines[i]! += waited
    }
  }

  #arm(now: number, at: number): void {
    this.#timerAt = at
    // A deadline past what a Node timer holds (commandTimeout plus a long WAIT): fired early,
    // #expire finds nothing due and arms again. Node would fire it after 1 ms, with a warning.
    this.#timer = setTimeout(this.#due, Math.min(at - now, MAX_TIMER_DELAY)).unref()
  }

  /** `sent`, failed with the timeout error if it has not settled within the timeout (see add). */
  track<T>(sent: Promise<T>, allowance = 0): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const item = { isSettled: false, reject }
      this.add(item, allowance)
      sent.then(
        (reply) => {
          item.isSettled = true
          resolve(reply)
        },
        (error: unknown) => {
          item.isSettled = true
          reject(error)
        },
      )
    })
  }

  /**
   * `item`, answered here, was sent on to another connection (a cluster's MOVED or ASK: the
   * client sends the same command to another node): this one owes it nothing more, and its
   * silence there is that connection's to tell.
   */
  handedOver(item: Timed): void {
    const at = this.#items.indexOf(item, this.#head)
    if (at >= 0) this.#items[at] = HANDED_OVER
  }

  /**
   * A timer runs in the event loop's timers phase, before the poll phase reads the sockets: after
   * the process itself stalled past a deadline (a long GC pause, a starved CPU), the replies that
   * arrived meanwhile wait unread, and failing their commands now would tell a timeout of what
   * Redis answered (an increment applied once, told 'unknown'). The poll phase runs first:
   * setImmediate's callbacks run after it. Only commands due when the timer fired are failed
   * then: one whose deadline passed while that poll's callbacks ran (a stall there) waits for the
   * next timer, and the poll after it.
   */
  readonly #due = (): void => {
    this.#timer = undefined
    const firedAt = deadlineClock.now()
    setImmediate(() => this.#expire(firedAt))
  }

  #expire(firedAt: number): void {
    // A command added meanwhile may have armed a timer: this pass arms the one needed.
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    const now = deadlineClock.now()
    let head = this.#head
    while (head < this.#items.length) {
      const item = this.#items[head]!
      if (settled(item)) {
        this.#stalled = false
        this.#answeredAt = now
      } else {
        if (this.#dueAt(head) > firedAt) break
        item.reject(this.#expired(item))
        this.#stalled = true
      }
      this.#letGo(head++)
    }
    this.#head = head
    this.#compact()
    if (this.#head < this.#items.length) {
      this.#arm(now, this.#dueAt(this.#head))
    }
  }

  /**
   * When the command at `index` (the oldest still waiting: #expire goes in order) is failed. Its
   * chained deadline counts every WAIT ahead of it at its sending as blocking for its whole
   * timeout; under steady `waitFor` writes 64 of them, answered at once, put it 13 s out, and a
   * frozen server held every call that long (helper-217). So it is also failed once nothing was
   * answered for the timeout plus its own allowance, never before its own deadline.
   */
  #dueAt(index: number): number {
    const own = this.#own[index]!
    if (this.#stalled) return own
    const sinceAnswer = this.#answeredAt + this.#timeout + this.#allowances[index]!
    return Math.min(this.#deadlines[index]!, Math.max(own, sinceAnswer))
  }

  #dropSettled(now: number): void {
    let head = this.#head
    while (head < this.#items.length && settled(this.#items[head]!)) {
      this.#letGo(head++)
      // Answered: the connection answers again.
      this.#stalled = false
      this.#answeredAt = now
    }
    this.#head = head
    this.#compact()
  }

  #letGo(index: number): void {
    this.#items[index] = undefined
    this.#allowanceAhead -= this.#allowances[index]!
  }

  /** Cuts the let-go slots off the arrays once they are most of them. */
  #compact(): void {
    const head = this.#head
    if (head === this.#items.length) {
      if (this.#writtenFrom >= 0) this.#writtenFrom = 0
      this.#items = []
      this.#deadlines = []
      this.#own = []
      this.#allowances = []
      this.#allowanceAhead = 0
      this.#head = 0
    } else if (head > BACKLOG && head * 2 > this.#items.length) {
      if (this.#writtenFrom >= 0) this.#writtenFrom = Math.max(0, this.#writtenFrom - head)
      this.#items = this.#items.slice(head)
      this.#deadlines = this.#deadlines.slice(head)
      this.#own = this.#own.slice(head)
      this.#allowances = this.#allowances.slice(head)
      this.#head = 0
    }
  }
}
