import { randomBytes } from 'node:crypto'
import { ClosedError, RedfleetError, SerializationError } from '../errors.ts'
import { DETACHED } from '../lifecycle.ts'
import type { Completion, TrackerBackend } from './backend.ts'
import type { SessionKeys } from './keys.ts'
import type { Listed, SessionListing } from './listing.ts'
import type { TrackedJob } from './options.ts'
import { decodeRecord } from './record.ts'
import { FINISHING, type TrackerRunner } from './runner.ts'

/** The steps that settle a claimed orphan run while the fleet closes (TrackerRunner.run). */

export type Requeue = (job: TrackedJob) => Promise<void> | void

/** A requeued orphan whose completion failed: still tracked, and claimed by this recoverer. */
interface Unfinished {
  keys: SessionKeys
  jobId: string
  token: string
  op: string
}

/**
 * The orphan sweep: hands each job of a dead session to `requeue` exactly once across every
 * recoverer in the fleet. Claims are per orphan (SET NX PX in the orphan's session), so any
 * number of recoverers on any topology run at once and each orphan goes to exactly one of them;
 * a claim is released only by its owner (compare-and-delete). A claim keeps its token on every
 * send, so one re-sent after a lost reply recognises its own win instead of losing the orphan to
 * itself until recoveryLockTtl. Sessions are visited in a random rotation so concurrent
 * recoverers spread out instead of queueing on the same orphan.
 */
export class OrphanRecovery {
  readonly #listing: SessionListing
  readonly #backend: TrackerBackend
  readonly #runner: TrackerRunner
  readonly #lockTtl: number
  /** The passes in progress (recoverEvery's and recoverOrphans calls), which close waits for. */
  readonly #active = new Set<Promise<number>>()
  /**
   * Orphans requeued whose completion Redis did not take (a node down, a failover under way), by
   * claim key. Left so, the claim would run out and the orphan, still tracked, be handed out
   * again (helper-197): each is completed again every `#retryEvery` ms, and as the fleet closes,
   * until it goes through. Completing is compare-and-delete by the claim's token: a send whose
   * reply was lost is harmless to repeat.
   */
  readonly #unfinished = new Map<string, Unfinished>()
  readonly #retryEvery: number
  #retryTimer: NodeJS.Timeout | undefined
  /** The retry of the unfinished completions in progress, which close waits for. */
  #retrying: Promise<void> | undefined

  constructor(
    listing: SessionListing,
    backend: TrackerBackend,
    runner: TrackerRunner,
    o: { lockTtl: number; retryEvery: number },
  ) {
    this.#listing = listing
    this.#backend = backend
    this.#runner = runner
    this.#lockTtl = o.lockTtl
    this.#retryEvery = o.retryEvery
  }

  /** No pass in progress and no requeued orphan left to untrack: nothing for close to wait for. */
  get idle(): boolean {
    return this.#active.size === 0 && this.#unfinished.size === 0
  }

  /** One recovery pass; resolves with how many orphans it requeued. */
  pass(requeue: Requeue, op: string): Promise<number> {
    const running = this.#pass(requeue, op)
    this.#active.add(running)
    const forget = () => this.#active.delete(running)
    running.then(forget, forget)
    return running
  }

  /**
   * Settles once no pass is in progress, and the unfinished completions had one more try.
   * fleet.close() waits here, while the connections are still open, so that an orphan whose
   * requeue resolves meanwhile is completed, not left claimed until recoveryLockTtl and handed
   * out again.
   */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#active])
    // The completions still unfinished get one more try, while the connections are open.
    // A retry round under way is that try: two in turn could outlast close's grace (a frozen
    // node), and the report below would then come once the connections are closed, unheard.
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    await (this.#retrying ?? this.#finishUnfinished())
    for (const { jobId, op } of this.#unfinished.values()) {
      this.#runner.report(
        new RedfleetError(
          `tracker.${op} '${jobId}': requeued, but Redis did not untrack it before the fleet closed: ` +
            'it may be handed out again once its claim runs out (recoveryLockTtl)',
        ),
        op,
      )
    }
    this.#unfinished.clear()
  }

  async #pass(requeue: Requeue, op: string): Promise<number> {
    const dead = await this.#listing.dead(op)
    if (dead.length === 0) return 0
    const records = await this.#runner.run(op, undefined, () => this.#backend.jobs(dead.map((s) => s.keys)))
    let requeued = 0
    try {
      for (const [i, session] of dead.entries()) {
        const jobIds = rotate([...records[i]!.keys()])
        const unfinished = (jobId: string) => this.#unfinished.has(session.keys.claim(jobId))
        for (const jobId of jobIds) {
          // Closing: the orphan in hand is finished, no new one is handed out.
          this.#assertOpen(op)
          // Requeued by this recoverer already, its completion still to come (#unfinished).
          if (unfinished(jobId)) continue
          if (await this.#recoverOne(session, jobId, requeue, op)) requeued++
        }
        // A record is left (and its node just failed it, likely): nothing to unlist, no second report.
        if (jobIds.some(unfinished)) continue
        // Unlists the session only if nothing is left: the script re-checks, so concurrent passes agree.
        await this.#runner.run(op, undefined, () => this.#backend.retire(session.keys, session.sessionId))
      }
    } catch (error) {
      // Cut short (by close, a node down) after requeueing some: how many went is what the caller
      // needs to know, and the failure goes to onError.
      if (requeued === 0) throw error
      this.#runner.reportUnheard(error, op)
      return requeued
    }
    return requeued
  }

  #assertOpen(op: string): void {
    if (this.#runner.closed) throw new ClosedError(`tracker.${op}: the fleet is closed`)
  }

  async #recoverOne(session: Listed, jobId: string, requeue: Requeue, op: string): Promise<boolean> {
    const { keys } = session
    // One token per claim, the same on every send of it (src/operations.ts: 'by-id').
    const token = randomBytes(8).toString('hex')
    const lockTtl = this.#lockTtl
    const text = await this.#runner.run(op, jobId, () => this.#backend.claim(keys, jobId, token, lockTtl))
    if (text === undefined) return false // live again, already recovered, or claimed by another
    if (this.#runner.closed) {
      // Claimed as close began: hand nothing out, and leave the orphan to the next recoverer now.
      await this.#runner.run(op, jobId, () => this.#backend.release(keys, jobId, token), FINISHING)
      this.#assertOpen(op)
    }
    const job = decodeRecord(jobId, text, session.instanceId)
    if (!job) {
      // Not a record redfleet wrote: drop it so it cannot block the session's cleanup forever.
      await this.#runner.run(op, jobId, () => this.#backend.complete(keys, jobId, token), FINISHING)
      this.#runner.report(
        new SerializationError(`tracker.${op} '${jobId}': dropped a malformed job record`),
        op,
      )
      return false
    }
    try {
      // A requeue that awaits fleet.close() is not waited for by it: that orphan stays claimed
      // (connections close next) until recoveryLockTtl, as one that outlasts close's grace.
      if ((await this.#runner.awaitUserCode(() => requeue(job))) === DETACHED) return true
    } catch (error) {
      this.#runner.report(error, op)
      // Back to unclaimed: the next pass (of any recoverer) hands it out again.
      await this.#runner
        .run(op, jobId, () => this.#backend.release(keys, jobId, token), FINISHING)
        .catch((failure: unknown) => this.#runner.reportUnheard(failure, op))
      return false
    }
    let sends = 0
    try {
      const completion = await this.#runner.run(
        op,
        jobId,
        () => {
          sends++
          return this.#backend.complete(keys, jobId, token)
        },
        FINISHING,
      )
      // 'gone' after more than one send may be this completion's own first send, applied with its
      // reply lost: not a second hand-out.
      this.#completed(op, jobId, completion, sends === 1)
    } catch (error) {
      // Refused by a closed fleet: nothing can send it again (docs/tracker.md, close).
      if (error instanceof ClosedError) throw error
      // Requeued all the same: the call counts it, and the completion is tried again.
      this.#runner.reportUnheard(error, op)
      this.#unfinished.set(keys.claim(jobId), { keys, jobId, token, op })
      this.#scheduleRetry()
    }
    return true
  }

  /** Reports an orphan handed out twice; `sure`: a 'gone' cannot be this completion's own earlier send. */
  #completed(op: string, jobId: string, completion: Completion, sure: boolean): void {
    if (completion === 'taken' || (completion === 'gone' && sure)) {
      this.#runner.report(handedOutTwice(op, jobId, this.#lockTtl, completion), op)
    }
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#runner.closed) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#retrying = this.#finishUnfinished().finally(() => {
        this.#retrying = undefined
        if (this.#unfinished.size > 0) this.#scheduleRetry()
      })
    }, this.#retryEvery)
    // A library timer must never be what keeps a process alive.
    this.#retryTimer.unref()
  }

  /**
   * One more send of each unfinished completion, through the runner (a timeout has the layout
   * re-read: a frozen master's slots are followed to its replica) but quietly: those that fail
   * again stay, and their first failure was reported.
   */
  async #finishUnfinished(): Promise<void> {
    for (const [claim, { keys, jobId, token, op }] of this.#unfinished) {
      try {
        const completion = await this.#runner.runAgain(op, jobId, () =>
          this.#backend.complete(keys, jobId, token),
        )
        this.#unfinished.delete(claim)
        // 'gone' may be an earlier send of it, applied with its reply lost.
        this.#completed(op, jobId, completion, false)
      } catch {}
    }
  }
}

/** The report of an orphan handed to two requeues: its claim ran out, or its instance finished it. */
function handedOutTwice(
  op: string,
  jobId: string,
  lockTtl: number,
  completion: 'taken' | 'gone',
): RedfleetError {
  const what =
    completion === 'taken'
      ? `requeue outlasted recoveryLockTtl (${lockTtl} ms) and another recoverer claimed the orphan too`
      : `the orphan was completed elsewhere while requeue ran (by another recoverer once recoveryLockTtl (${lockTtl} ms) ran out, or by its own instance)`
  return new RedfleetError(
    `tracker.${op} '${jobId}': ${what}: it was handed out twice; raise recoveryLockTtl above the time requeue takes`,
  )
}

/** The same items from a random starting point (cheap spreading, no full shuffle needed). */
function rotate<T>(items: T[]): T[] {
  if (items.length < 2) return items
  const start = Math.floor(Math.random() * items.length)
  return [...items.slice(start), ...items.slice(0, start)]
}
