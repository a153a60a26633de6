import { safely } from '../broker/listener.ts'
import { isWrongType, messageOf, translateError } from '../errors.ts'
import { detach } from '../lifecycle.ts'
import { isPassing, LoopBackoff } from '../loops.ts'
import { isTraced, operationChannel } from '../telemetry.ts'
import type { ClaimedEntry, StreamBackend } from './backend.ts'
import { type Delivery, decodeEntry, type Envelope } from './entry.ts'
import { START_ID } from './ids.ts'

/** Longest BLOCK of one read: an idle loop wakes at least this often (for reclaims and aborts). */
export const BLOCK_INTERVAL = 1000

/** Longest pause between reclaim passes, so abandoned entries move within minIdle + this. */
const MAX_RECLAIM_EVERY = 2000

/**
 * BLOCK of a read ahead (ms): it only takes what is already there, so a loop that stops waits
 * for it at most this long (plus a round trip) before handing its entries back.
 */
const AHEAD_BLOCK = 1

/** Dead letters not written that a loop keeps for their next try (see #unwritten). */
const UNWRITTEN_KEPT = 1000

export interface ConsumerSettings {
  backend: StreamBackend
  key: string
  group: string
  consumer: string
  handle: (delivery: Delivery) => Promise<void> | void
  /**
   * Runs a handler so that a fleet.close() called from inside it tells `detached` (Lifecycle.
   * runUserCode): the loop then stops waiting for that handler and leaves its entry pending.
   */
  runUserCode: <T>(code: () => T, detached: () => void) => T
  batch: number
  minIdle: number
  maxDeliveries: number
  concurrency: number
  /**
   * Writes one dead-letter record; the entry is acked only after it resolves. Its errors name
   * the dead-letter channel. `lookFirst`: another consumer may have written its record already
   * (one that died before acking the entry, or that reclaimed it from a slow handler), which is
   * looked for first.
   */
  deadLetter: (record: DeadLetterRecord, lookFirst: boolean) => Promise<void>
  /** Where failures go that no caller can receive (outages the loop rides out, once each). */
  onError: (error: unknown) => void
  /** What every handled delivery's trace on `redfleet:streams:consume` names (SPEC §11). */
  trace: { namespace: string; topology: string }
  signal: AbortSignal
}

/** What a dead-letter channel holds for an entry given up on (docs/streams.md). */
export interface DeadLetterRecord extends Envelope {
  id: string
  group: string
  error: string
  deliveries: number
  envelope: Envelope
  deadAt: number
}

/**
 * Resolves once a command sent from the promise jobs queued now has left: node-redis writes in
 * a setImmediate of its own, queued after one made now, so two turns of the event loop.
 */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
}

/** Each handled delivery is traced here (a span per entry, with its group and id). */
const consumed = operationChannel('streams.consume')

/**
 * One consumer of a group: reads new entries in batches (XREADGROUP), reclaims entries left
 * idle by anyone (XAUTOCLAIM) every min(minIdle / 2, 2 s) while it runs, acks what its handler
 * finished, and dead-letters what failed `maxDeliveries` times. Outages (src/loops.ts: lost
 * connections, failover, a demoted master, resharding, restarts) are reported once and ridden
 * out with backoff; a deleted group is created again (from the stream's start: its entries are
 * delivered again, at least once); a command error (WRONGTYPE...) ends the loop with that error.
 * After a full batch it reads ahead (#readAhead). When the signal aborts it starts no new
 * handler, waits for the running ones, hands back the entries it was given but never started
 * (a read ahead's too), flushes its acks, and returns.
 */
export class ConsumerLoop {
  readonly #s: ConsumerSettings
  /** Ids whose handler resolved (or that were skipped), not yet acked in Redis. */
  #acks: string[] = []
  readonly #reclaimEvery: number
  /** The read ahead in flight (see #readAhead) and when it was sent, taken by the next turn of the loop. */
  #ahead: { entries: Promise<ClaimedEntry[]>; sentAt: number } | undefined
  /** A read ahead is never cut by the stop: its entries are handed back instead. */
  readonly #aheadSignal = new AbortController().signal
  /** The batch being handled: its entries, and the next one no handler has started yet. */
  #batch: { entries: ClaimedEntry[]; next: number } | undefined
  /** close() stopped waiting for this loop (see cutOff): what it does later is never sent. */
  #cutOff = false
  /** A dead letter's error that no later try can pass: the loop starts no handler and ends with it. */
  #deadLetterFatal: unknown
  /**
   * The dead letters this loop could not write (a full Redis, a lost connection), by entry id,
   * the oldest first. Back over the limit (a reclaim counts one more delivery each pass, the
   * handler none), the entry's record is written as it was due: the handler's last error and its
   * deliveries, not "delivered 9 times without being acknowledged" for 3 failures across an OOM
   * (helper-314).
   */
  readonly #unwritten = new Map<string, { error: string; deliveries: number }>()

  constructor(settings: ConsumerSettings) {
    this.#s = settings
    this.#reclaimEvery = Math.max(10, Math.min(settings.minIdle / 2, MAX_RECLAIM_EVERY))
  }

  async run(): Promise<void> {
    const { backend, key, group, consumer, batch, signal } = this.#s
    // When the next reclaim pass is due, on the monotonic clock: on the wall clock, a step of it
    // back held redelivery off by the step (helper-308).
    let nextReclaim = 0
    let cursor = START_ID
    const backoff = new LoopBackoff(this.#s.onError, { quietOutages: true })
    let fatal: unknown
    let groupReady = false
    /** The NOGROUP that ended the group this loop read from, until the group is made again. */
    let gone: unknown
    while (!signal.aborted) {
      try {
        if (!groupReady) {
          // Reported by the loop that makes it again, not by each of its consumers: its entries
          // are delivered again.
          if ((await backend.createGroup(key, group)) && gone) safely(this.#s.onError, gone)
          gone = undefined
          groupReady = true
        }
        let entries: ClaimedEntry[]
        let read = true
        // When the command that took `entries` was sent: their idle time in Redis counts from
        // after it (see #failed).
        let sentAt = performance.now()
        const ahead = this.#ahead
        if (ahead) {
          this.#ahead = undefined
          entries = await ahead.entries
          sentAt = ahead.sentAt
        } else if (performance.now() >= nextReclaim) {
          read = false
          // Acks first: an entry handled or dead-lettered but not yet acked in Redis is idle
          // and pending there, and the claim would take it again (a second dead letter).
          await this.#sendAcks()
          sentAt = performance.now()
          const claimed = await backend.claim(key, group, consumer, this.#s.minIdle, cursor, batch)
          cursor = claimed.next
          // A full pass over the pending list ends the reclaim round; otherwise go on at once.
          if (cursor === START_ID) nextReclaim = performance.now() + this.#reclaimEvery
          entries = claimed.entries
        } else {
          // Whole milliseconds: Redis refuses a BLOCK with a fraction (helper-312).
          const block = Math.max(1, Math.min(BLOCK_INTERVAL, Math.ceil(nextReclaim - performance.now())))
          const acks = this.#acks
          entries = await backend.readGroup(key, group, consumer, batch, block, acks, signal)
          this.#acked(acks.length)
        }
        backoff.succeeded()
        // A full batch of new entries: more are likely waiting, so the next read leaves now and
        // Redis and the network work while the handlers do (not when a reclaim pass is due).
        if (read && entries.length === batch && performance.now() < nextReclaim && !signal.aborted) {
          this.#readAhead()
          // Handlers that return at once would otherwise run the whole batch before the read
          // leaves (it takes a connection from the pool first): let it go out, then handle.
          await turn()
        }
        if (entries.length > 0) await this.#process(entries, sentAt)
        if (this.#deadLetterFatal !== undefined) throw this.#deadLetterFatal
      } catch (caught) {
        if (signal.aborted) break
        const error = translateError(caught, 'streams.consume', group)
        backend.loopFailed(error)
        if (messageOf(error).includes('NOGROUP')) {
          // The group (or the whole stream) is gone: deleted, or lost with a Redis that did not
          // persist it. Made again at the next turn, and reported then.
          groupReady = false
          gone = error
          continue
        }
        if (!isPassing(error)) {
          fatal = error
          break
        }
        await backoff.failed(error, signal)
      }
    }
    // Cut off meanwhile: its last steps were taken then, and the connections are closed now.
    if (this.#cutOff) return
    await this.#handBackAhead()
    await this.#flushAcks()
    if (fatal !== undefined) throw fatal
  }

  /**
   * The loop's last steps, taken for it by a close() that stopped waiting for a handler that
   * never settled: the entries of its batch no handler started (and a read ahead's) are handed
   * back, and the acks of the handlers that finished are sent. Without them, all of them would
   * wait for minIdle and be handled again. The handler still running keeps its entry pending.
   */
  async cutOff(): Promise<void> {
    this.#cutOff = true
    const batch = this.#batch
    const unstarted = batch ? batch.entries.slice(batch.next) : []
    if (batch) batch.next = batch.entries.length
    // At once, not one after another: close() waits for them only so long (LAST_STEPS_LIMIT).
    // The acks go after the read ahead, which puts back the acks it carried if it failed.
    await Promise.all([this.#release(unstarted), this.#handBackAhead().then(() => this.#flushAcks())])
  }

  /**
   * Starts the next XREADGROUP (with the acks waiting) before the current batch is handled. It
   * blocks AHEAD_BLOCK ms at most; the acks it carries are put back if it fails.
   */
  #readAhead(): void {
    const { backend, key, group, consumer, batch } = this.#s
    const acks = this.#acks
    this.#acks = []
    const sentAt = performance.now()
    const reading = backend.readGroup(key, group, consumer, batch, AHEAD_BLOCK, acks, this.#aheadSignal)
    // The loop awaits `reading` (and meets its error) on its next turn, or #handBackAhead does.
    reading.catch(() => {
      this.#acks = acks.concat(this.#acks)
    })
    this.#ahead = { entries: reading, sentAt }
  }

  /**
   * A loop that stops with a read ahead in flight hands its entries back, never started, as
   * #process does: claimable at once, their delivery counts as before. A failed read is not
   * reported (anything it took is reclaimed after minIdle, as after a cut blocking read).
   */
  async #handBackAhead(): Promise<void> {
    const ahead = this.#ahead
    if (!ahead) return
    this.#ahead = undefined
    let entries: ClaimedEntry[]
    try {
      entries = await ahead.entries
    } catch {
      return
    }
    await this.#release(entries)
  }

  /** Acks what is waiting; a failure reaches the loop, and the ids wait for the next send. */
  async #sendAcks(): Promise<void> {
    const acks = this.#acks
    if (acks.length === 0) return
    await this.#s.backend.ack(this.#s.key, this.#s.group, acks)
    this.#acked(acks.length)
  }

  /** Forgets the first `count` waiting acks once Redis has them (more may have come meanwhile). */
  #acked(count: number): void {
    this.#acks = this.#acks.length === count ? [] : this.#acks.slice(count)
  }

  /** The last acks of a loop: a failure is reported (the entries are redelivered after minIdle). */
  async #flushAcks(): Promise<void> {
    try {
      await this.#sendAcks()
    } catch (error) {
      this.#s.onError(translateError(error, 'streams.consume', this.#s.group))
    }
  }

  /** Runs the handlers of one batch, at most `concurrency` at a time, starting them in id order. */
  async #process(entries: ClaimedEntry[], sentAt: number): Promise<void> {
    const { signal } = this.#s
    const batch = { entries, next: 0 }
    this.#batch = batch
    const worker = async () => {
      while (batch.next < entries.length && !signal.aborted && this.#deadLetterFatal === undefined) {
        // Synchronous handlers settle without a promise: no microtask per entry.
        const pending = this.#handleOne(entries[batch.next++]!, sentAt)
        if (pending) await pending
      }
    }
    if (this.#s.concurrency === 1) await worker()
    else await Promise.all(Array.from({ length: Math.min(this.#s.concurrency, entries.length) }, worker))
    this.#batch = undefined
    if (batch.next < entries.length) await this.#release(entries.slice(batch.next))
  }

  /** Hands back entries no handler started: claimable at once, their delivery counts as before. */
  async #release(entries: ClaimedEntry[]): Promise<void> {
    if (entries.length === 0) return
    try {
      await this.#s.backend.release(this.#s.key, this.#s.group, this.#s.consumer, entries)
    } catch (error) {
      // They stay ours and are reclaimed by others after minIdle instead of at once.
      this.#s.onError(translateError(error, 'streams.consume', this.#s.group))
    }
  }

  /**
   * Handles one entry; never rejects (a failing handler leaves the entry pending). Returns a
   * promise only when there is something to wait for.
   */
  #handleOne(entry: ClaimedEntry, sentAt: number): Promise<void> | undefined {
    const delivery = decodeEntry(entry, this.#s.group)
    if (!delivery) {
      // Not written by redfleet (e.g. a hand-made XADD), or a replay for another group: skip
      // it, and ack so it never returns.
      this.#acks.push(entry.id)
      return undefined
    }
    if (entry.deliveries > this.#s.maxDeliveries) {
      const due = this.#unwritten.get(entry.id)
      if (due) return this.#deadLetter(entry, delivery, due.error, due.deliveries, true)
      // Its earlier consumers died before acking or dead-lettering it: give up on it now.
      const lost = `delivered ${entry.deliveries - 1} times without being acknowledged`
      return this.#deadLetter(entry, delivery, lost, entry.deliveries - 1, true)
    }
    // Told when the handler calls fleet.close(): then it is not waited for, and not acked.
    let detached = false
    let release: (() => void) | undefined
    const handle = () => (isTraced(consumed) ? this.#traced(delivery) : this.#s.handle(delivery))
    let result: unknown
    try {
      result = this.#s.runUserCode(handle, () => {
        detached = true
        release?.()
      })
    } catch (error) {
      return this.#failed(entry, delivery, error, sentAt)
    }
    if (typeof (result as PromiseLike<void> | undefined)?.then !== 'function') {
      this.#acks.push(entry.id)
      return undefined
    }
    const handling = result as PromiseLike<void>
    if (detached) {
      // It called close before its first await: never waited for.
      detach(handling)
      return undefined
    }
    return new Promise<void>((resolve) => {
      release = resolve
      handling.then(
        () => {
          if (!detached) this.#acks.push(entry.id)
          resolve()
        },
        (error: unknown) => {
          const failing = detached ? undefined : this.#failed(entry, delivery, error, sentAt)
          if (failing) void failing.then(resolve)
          else resolve()
        },
      )
    })
  }

  /** The handler of one delivery, traced as `streams.consume` of the main stream for its group. */
  #traced(delivery: Delivery): Promise<void> {
    const { group, consumer, trace } = this.#s
    return consumed.tracePromise(async () => this.#s.handle(delivery), {
      ...trace,
      channel: 'events',
      group,
      consumer,
      id: delivery.id,
    })
  }

  /**
   * A handler failed: at the entry's last delivery, it is dead-lettered. Its first time at the
   * limit (a delivery count only grows), so no record of it exists, unless another consumer
   * reclaimed it over the limit while the handler ran past minIdle (its idle time counts from
   * the read, sent at `sentAt`): then that one's record is looked for first.
   */
  #failed(
    entry: ClaimedEntry,
    delivery: Delivery,
    error: unknown,
    sentAt: number,
  ): Promise<void> | undefined {
    if (entry.deliveries < this.#s.maxDeliveries) return undefined
    const reclaimable = performance.now() - sentAt >= this.#s.minIdle
    return this.#deadLetter(entry, delivery, messageOf(error), entry.deliveries, reclaimable)
  }

  async #deadLetter(
    entry: ClaimedEntry,
    delivery: Delivery,
    error: string,
    deliveries: number,
    lookFirst: boolean,
  ): Promise<void> {
    const { group } = this.#s
    const record = { id: entry.id, group, error, deliveries, envelope: delivery.envelope, deadAt: Date.now() }
    try {
      await this.#s.deadLetter(record, lookFirst)
      this.#unwritten.delete(entry.id)
      this.#acks.push(entry.id)
    } catch (failure) {
      // Left pending either way. A channel whose key holds another type can never take it: the
      // loop ends, as on a command error of its reads. Anything else (a lost connection, OOM)
      // may pass: the next reclaim sees the entry over the limit and tries again.
      if (isWrongType(failure)) this.#deadLetterFatal ??= failure
      else {
        this.#remember(entry.id, { error, deliveries })
        this.#s.onError(failure)
      }
    }
  }

  /** Keeps a dead letter not written, for its next try (#unwritten): at most UNWRITTEN_KEPT. */
  #remember(id: string, due: { error: string; deliveries: number }): void {
    this.#unwritten.delete(id)
    if (this.#unwritten.size >= UNWRITTEN_KEPT) this.#unwritten.delete(this.#unwritten.keys().next().value!)
    this.#unwritten.set(id, due)
  }
}
