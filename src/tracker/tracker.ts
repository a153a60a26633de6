import { randomBytes } from 'node:crypto'
import { type FleetContext, type OperationPolicy, operationPolicy, runOperation } from '../context.ts'
import { ClosedError, RedfleetError, SerializationError, translateError } from '../errors.ts'
import { LoopBackoff } from '../loops.ts'
import type { TrackerBackend } from './backend.ts'
import { isSessionId, type SessionKeys, TrackerKeys } from './keys.ts'
import { MemoryTrackerBackend } from './memory.ts'
import {
  type ResolvedTrackerOptions,
  resolveTrackerOptions,
  type TrackedJob,
  type TrackerOptions,
} from './options.ts'
import { byStart, decodeRecord, encodeRecord } from './record.ts'
import { RedisTrackerBackend } from './redis.ts'

/** In-flight jobs per worker instance, heartbeats, and exactly-once orphan recovery (SPEC §7). */
export interface Tracker {
  /** This instance's id (option, else `REDFLEET_INSTANCE_ID`, else random). */
  readonly instanceId: string
  /**
   * Heartbeats now (rejecting if that fails, and then the tracker stays stopped), then every
   * `heartbeatInterval`; with `recoverEvery`, also runs a recovery pass now and periodically.
   * Calling it while started does nothing.
   */
  start(): Promise<void>
  /**
   * Stops the heartbeat and recovery timers (waiting for a running beat or pass) and removes
   * this instance's liveness at once. Jobs still in flight stay tracked, so other instances
   * recover them as orphans, unless `releaseJobs` forgets them. The tracker can start again.
   */
  stop(o?: { releaseJobs?: boolean }): Promise<void>
  /**
   * Records the job under this instance (one atomic step: membership and payload), runs it,
   * and forgets it once it settles. A tracking failure (Redis down, a payload JSON cannot hold)
   * goes to `onError`; the job runs regardless and its result or error is returned untouched.
   * Track while started: a job of an instance that is not heartbeating is an orphan.
   */
  track<T>(id: string, payload: unknown, run: () => Promise<T>): Promise<T>
  /** Jobs recorded under an instance (default: this one), oldest first. */
  inFlight(instanceId?: string): Promise<TrackedJob[]>
  /** Live instances, sorted by id, with the time of their last heartbeat (their clock). */
  instances(): Promise<{ id: string; lastSeen: number }[]>
  /** Jobs whose instance is no longer live, oldest first. */
  orphans(): Promise<TrackedJob[]>
  /**
   * Hands each orphan to `requeue` exactly once across every concurrent caller in the fleet
   * (per-orphan claims, held for `recoveryLockTtl`). An orphan stops being tracked only after
   * `requeue` resolves; if it throws, the error goes to `onError`, the orphan stays tracked and
   * the next pass retries it. A dead instance's records are removed once all its orphans are
   * requeued. Resolves with how many orphans this call requeued.
   */
  recoverOrphans(requeue: (job: TrackedJob) => Promise<void> | void): Promise<number>
}

/** One start..stop span of this tracker: its own keys, so restarts never mix lives. */
interface Session {
  readonly id: string
  readonly keys: SessionKeys
  /** This tracker's jobs in flight here: jobId → how many `track` calls hold it. */
  readonly inFlight: Map<string, number>
  /** Stopped: nothing heartbeats it any more; its last settling job retires it. */
  ended: boolean
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex')

function newSession(keys: TrackerKeys): Session {
  const id = hex(16)
  return { id, keys: keys.session(id), inFlight: new Map(), ended: false }
}

/** A session as the index lists it. */
interface Listed {
  readonly sessionId: string
  readonly instanceId: string
  readonly keys: SessionKeys
}

class FleetTracker implements Tracker {
  readonly instanceId: string
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  /** The policy of the background loops' operations: they report failures themselves, once. */
  readonly #quiet: OperationPolicy
  readonly #beats = new LoopBackoff((error) => this.#report(error, 'heartbeat'))
  readonly #passes = new LoopBackoff((error) => this.#report(error, 'recoverEvery'))
  readonly #options: ResolvedTrackerOptions
  readonly #keys: TrackerKeys
  readonly #backend: TrackerBackend
  #session: Session
  #running = false
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #heartbeatTimer: NodeJS.Timeout | undefined
  #recoveryTimer: NodeJS.Timeout | undefined
  /** The beat or recovery pass in progress, which stop() and close() wait for. */
  #beat: Promise<void> | undefined
  #pass: Promise<void> | undefined

  constructor(ctx: FleetContext, options: TrackerOptions) {
    this.#options = resolveTrackerOptions(options)
    this.instanceId = this.#options.instanceId
    this.#ctx = ctx
    this.#policy = operationPolicy(ctx, options)
    this.#quiet = { retry: this.#policy.retry, onError: () => {} }
    this.#keys = new TrackerKeys(ctx.keys)
    this.#backend =
      ctx.topology === 'memory'
        ? new MemoryTrackerBackend(ctx.memory)
        : new RedisTrackerBackend(() => ctx.redis())
    this.#session = newSession(this.#keys)
    ctx.lifecycle.onClose(() => this.#shutdown())
  }

  #run<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    const loop = op === 'heartbeat' || op === 'recoverEvery'
    return runOperation(this.#ctx, loop ? this.#quiet : this.#policy, `tracker.${op}`, key, fn)
  }

  /** Reports a failure nobody awaits; a throwing handler is ignored (it must not break a loop). */
  #report(error: unknown, op: string): void {
    try {
      this.#policy.onError(error, `tracker.${op}`)
    } catch {
      // The error sink failing is not a reason to stop tracking or recovering.
    }
  }

  #assertOpen(op: string): void {
    this.#ctx.lifecycle.assertOpen(`tracker.${op}`)
  }

  // --- lifecycle ----------------------------------------------------------------------------

  start(): Promise<void> {
    try {
      this.#assertOpen('start')
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.#running && !this.#stopping) return Promise.resolve()
    this.#starting ??= (async () => {
      // start() during stop() starts again once the stop is done.
      await this.#stopping?.catch(() => undefined)
      if (this.#running) return
      const session = this.#session
      await this.#run('start', undefined, () => this.#heartbeat(session))
      this.#running = true
      this.#scheduleHeartbeat()
      if (this.#options.recoverEvery > 0) this.#scheduleRecovery(0)
    })().finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  #heartbeat(session: Session): Promise<void> {
    const { heartbeatTtl } = this.#options
    return this.#backend.heartbeat(session.keys, session.id, this.instanceId, Date.now(), heartbeatTtl)
  }

  /**
   * The heartbeat loop. It ends only with stop() or fleet.close(): a failed beat (Redis down, a
   * failover, a demoted master) is reported once per outage (src/loops.ts) and tried again with
   * backoff, at most `heartbeatInterval` later, so liveness returns as soon as Redis does.
   */
  #scheduleHeartbeat(delay = this.#options.heartbeatInterval): void {
    const interval = this.#options.heartbeatInterval
    this.#heartbeatTimer = setTimeout(() => {
      const session = this.#session
      let next = interval
      this.#beat = this.#run('heartbeat', undefined, () => this.#heartbeat(session))
        .then(
          () => this.#beats.succeeded(),
          (error: unknown) => {
            if (!(error instanceof ClosedError)) next = this.#beats.delayAfter(error, interval)
          },
        )
        .finally(() => {
          this.#beat = undefined
          if (this.#running) this.#scheduleHeartbeat(next)
        })
    }, delay)
    // A library timer must never be what keeps a process alive.
    this.#heartbeatTimer.unref()
  }

  /** The recovery loop (recoverEvery): like the heartbeat, a failed pass is retried with backoff. */
  #scheduleRecovery(delay: number): void {
    const requeue = this.#options.requeue!
    const every = this.#options.recoverEvery
    this.#recoveryTimer = setTimeout(() => {
      let next = every
      this.#pass = this.#recover(requeue, 'recoverEvery')
        .then(
          () => this.#passes.succeeded(),
          (error: unknown) => {
            if (!(error instanceof ClosedError)) next = this.#passes.delayAfter(error, every)
          },
        )
        .finally(() => {
          this.#pass = undefined
          if (this.#running) this.#scheduleRecovery(next)
        })
    }, delay)
    this.#recoveryTimer.unref()
  }

  /** Stops both timers and waits for a beat or pass in progress. */
  async #halt(): Promise<void> {
    this.#running = false
    clearTimeout(this.#heartbeatTimer)
    clearTimeout(this.#recoveryTimer)
    await Promise.all([this.#beat, this.#pass])
  }

  stop(o: { releaseJobs?: boolean } = {}): Promise<void> {
    try {
      this.#assertOpen('stop')
      if (typeof o !== 'object' || o === null) throw new TypeError('tracker.stop: options must be an object')
    } catch (error) {
      return Promise.reject(error)
    }
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => undefined)
      await this.#halt()
      const session = this.#session
      // The next start() gets a new session: what this one leaves behind is now an orphan.
      session.ended = true
      this.#session = newSession(this.#keys)
      const release = o.releaseJobs === true ? [...session.inFlight.keys()] : []
      await this.#run('stop', undefined, () => this.#backend.leave(session.keys, session.id, release))
    })().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  /** fleet.close(): timers off, then liveness removed best-effort (connections are still open). */
  async #shutdown(): Promise<void> {
    const wasRunning = this.#running
    await this.#halt()
    const session = this.#session
    session.ended = true
    if (!wasRunning) return
    try {
      await this.#backend.leave(session.keys, session.id, [])
    } catch (error) {
      // Unreachable Redis: the heartbeat expires on its own within heartbeatTtl.
      this.#report(translateError(error, 'tracker.close'), 'close')
    }
  }

  // --- tracking -----------------------------------------------------------------------------

  track<T>(id: string, payload: unknown, run: () => Promise<T>): Promise<T> {
    try {
      if (typeof id !== 'string' || id.length === 0) {
        throw new TypeError(`tracker.track: id must be a non-empty string, got ${JSON.stringify(id)}`)
      }
      if (typeof run !== 'function') throw new TypeError('tracker.track: run must be a function')
      this.#assertOpen('track')
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#track(id, payload, run)
  }

  async #track<T>(id: string, payload: unknown, run: () => Promise<T>): Promise<T> {
    const session = this.#session
    session.inFlight.set(id, (session.inFlight.get(id) ?? 0) + 1)
    // 'unsure': the record failed, but may have landed (a timeout): remove it quietly afterwards.
    let recorded: 'yes' | 'unsure' | 'no' = 'no'
    try {
      const text = encodeRecord(id, payload, Date.now())
      recorded = 'unsure'
      await this.#run('track', id, () =>
        this.#backend.record(session.keys, session.id, this.instanceId, id, text),
      )
      recorded = 'yes'
    } catch (error) {
      // runOperation reported Redis failures already; these two it never sees.
      if (error instanceof SerializationError || error instanceof ClosedError) this.#report(error, 'track')
    }
    try {
      return await run()
    } finally {
      await this.#untrack(session, id, recorded)
    }
  }

  async #untrack(session: Session, id: string, recorded: 'yes' | 'unsure' | 'no'): Promise<void> {
    const holders = (session.inFlight.get(id) ?? 1) - 1
    if (holders > 0) {
      // The same id is still running in another track() call: its record stays.
      session.inFlight.set(id, holders)
      return
    }
    session.inFlight.delete(id)
    // A fleet closed mid-job leaves the record, an orphan exactly as after stop().
    if (recorded === 'no' || this.#ctx.lifecycle.closed) return
    if (recorded === 'yes') {
      try {
        await this.#run('track', id, () => this.#backend.remove(session.keys, id))
      } catch {
        // Reported by runOperation; the job's own outcome is what track() returns.
      }
    } else {
      await this.#backend.remove(session.keys, id).catch(() => undefined)
    }
    if (session.ended && session.inFlight.size === 0) await this.#retireEnded(session)
  }

  /** The last job of a stopped session settled: retire the session so the index stays small. */
  async #retireEnded(session: Session): Promise<void> {
    try {
      await this.#run('track', undefined, () => this.#backend.retire(session.keys, session.id))
    } catch {
      // Reported; a recovery pass retires it later anyway.
    }
  }

  // --- reading ------------------------------------------------------------------------------

  /** Every session the index shards list. */
  async #sessions(op: string): Promise<Listed[]> {
    const index = await this.#run(op, undefined, () => this.#backend.sessions(this.#keys.shards))
    const sessions: Listed[] = []
    for (const [sessionId, instanceId] of index) {
      // Not written by redfleet: skipped, never touched.
      if (!isSessionId(sessionId) || instanceId.length === 0) continue
      sessions.push({ sessionId, instanceId, keys: this.#keys.session(sessionId) })
    }
    return sessions
  }

  /** Every listed session and, in the same order, its lastSeen (undefined when not live). */
  async #listed(op: string): Promise<{ sessions: Listed[]; lastSeen: (string | undefined)[] }> {
    const sessions = await this.#sessions(op)
    const lastSeen = await this.#run(op, undefined, () => this.#backend.alive(sessions.map((s) => s.keys)))
    return { sessions, lastSeen }
  }

  async #jobsOf(op: string, sessions: Listed[]): Promise<TrackedJob[]> {
    const records = await this.#run(op, undefined, () => this.#backend.jobs(sessions.map((s) => s.keys)))
    const jobs: TrackedJob[] = []
    sessions.forEach((session, i) => {
      for (const [jobId, text] of records[i]!) {
        const job = decodeRecord(jobId, text, session.instanceId)
        if (job) jobs.push(job)
      }
    })
    return jobs.sort(byStart)
  }

  async inFlight(instanceId: string = this.instanceId): Promise<TrackedJob[]> {
    if (typeof instanceId !== 'string' || instanceId.length === 0) {
      throw new TypeError(
        `tracker.inFlight: instanceId must be a non-empty string, got ${JSON.stringify(instanceId)}`,
      )
    }
    this.#assertOpen('inFlight')
    const sessions = await this.#sessions('inFlight')
    return this.#jobsOf(
      'inFlight',
      sessions.filter((s) => s.instanceId === instanceId),
    )
  }

  async instances(): Promise<{ id: string; lastSeen: number }[]> {
    this.#assertOpen('instances')
    const { sessions, lastSeen } = await this.#listed('instances')
    const latest = new Map<string, number>()
    sessions.forEach((session, i) => {
      const seen = Number(lastSeen[i])
      if (lastSeen[i] === undefined || !Number.isFinite(seen)) return
      // An instance restarted within heartbeatTtl has two live sessions: report the newest beat.
      latest.set(session.instanceId, Math.max(seen, latest.get(session.instanceId) ?? seen))
    })
    return [...latest]
      .map(([id, seen]) => ({ id, lastSeen: seen }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  async orphans(): Promise<TrackedJob[]> {
    this.#assertOpen('orphans')
    const { sessions, lastSeen } = await this.#listed('orphans')
    return this.#jobsOf(
      'orphans',
      sessions.filter((_, i) => lastSeen[i] === undefined),
    )
  }

  // --- recovery -----------------------------------------------------------------------------

  async recoverOrphans(requeue: (job: TrackedJob) => Promise<void> | void): Promise<number> {
    if (typeof requeue !== 'function')
      throw new TypeError('tracker.recoverOrphans: requeue must be a function')
    this.#assertOpen('recoverOrphans')
    return this.#recover(requeue, 'recoverOrphans')
  }

  /**
   * One recovery pass. Claims are per orphan (SET NX PX in the orphan's session), so any number
   * of recoverers on any topology run at once and each orphan goes to exactly one of them; a
   * claim is released only by its owner (compare-and-delete). A claim keeps its token on every
   * send, so one re-sent after a lost reply recognises its own win instead of losing the orphan
   * to itself until recoveryLockTtl. Sessions are visited in a random rotation so concurrent
   * recoverers spread out instead of queueing on the same orphan.
   */
  async #recover(requeue: (job: TrackedJob) => Promise<void> | void, op: string): Promise<number> {
    const { sessions, lastSeen } = await this.#listed(op)
    const dead = sessions.filter((_, i) => lastSeen[i] === undefined)
    if (dead.length === 0) return 0
    const records = await this.#run(op, undefined, () => this.#backend.jobs(dead.map((s) => s.keys)))
    let requeued = 0
    for (const [i, session] of dead.entries()) {
      const jobIds = rotate([...records[i]!.keys()])
      for (const jobId of jobIds) {
        if (this.#ctx.lifecycle.closed) throw new ClosedError(`tracker.${op}: the fleet is closed`)
        if (await this.#recoverOne(session, jobId, requeue, op)) requeued++
      }
      // Unlists the session only if nothing is left: the script re-checks, so concurrent passes agree.
      await this.#run(op, undefined, () => this.#backend.retire(session.keys, session.sessionId))
    }
    return requeued
  }

  async #recoverOne(
    session: Listed,
    jobId: string,
    requeue: (job: TrackedJob) => Promise<void> | void,
    op: string,
  ): Promise<boolean> {
    const { keys } = session
    // One token per claim, the same on every send of it (src/operations.ts: 'by-id').
    const token = hex(8)
    const lockTtl = this.#options.recoveryLockTtl
    const text = await this.#run(op, jobId, () => this.#backend.claim(keys, jobId, token, lockTtl))
    if (text === undefined) return false // live again, already recovered, or claimed by another
    const job = decodeRecord(jobId, text, session.instanceId)
    if (!job) {
      // Not a record redfleet wrote: drop it so it cannot block the session's cleanup forever.
      await this.#run(op, jobId, () => this.#backend.complete(keys, jobId, token))
      this.#report(new SerializationError(`tracker.${op} '${jobId}': dropped a malformed job record`), op)
      return false
    }
    try {
      await requeue(job)
    } catch (error) {
      this.#report(error, op)
      // Back to unclaimed: the next pass (of any recoverer) hands it out again.
      await this.#run(op, jobId, () => this.#backend.release(keys, jobId, token)).catch(() => undefined)
      return false
    }
    const completed = await this.#run(op, jobId, () => this.#backend.complete(keys, jobId, token))
    if (!completed) {
      this.#report(
        new RedfleetError(
          `tracker.${op} '${jobId}': requeue outlasted recoveryLockTtl (${lockTtl} ms) and another recoverer ` +
            'claimed the orphan too; raise recoveryLockTtl above the time requeue takes',
        ),
        op,
      )
    }
    return true
  }
}

/** The same items from a random starting point (cheap spreading, no full shuffle needed). */
function rotate<T>(items: T[]): T[] {
  if (items.length < 2) return items
  const start = Math.floor(Math.random() * items.length)
  return [...items.slice(start), ...items.slice(0, start)]
}

/** Builds `fleet.tracker(options)`; throws ConfigError for bad options, before any I/O. */
export function createTracker(ctx: FleetContext, options: TrackerOptions = {}): Tracker {
  return new FleetTracker(ctx, options)
}
