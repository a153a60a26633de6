import type { FleetContext } from '../context.ts'
import { TimeoutError, translateError } from '../errors.ts'
import { closeGrace, type Lifecycle, settledWithin } from '../lifecycle.ts'
import { onAbort } from '../signals.ts'
import type { Subject } from '../telemetry.ts'
import { assertBooleanOption, assertCallOptions, assertFunction, assertName } from '../validate.ts'
import type { TrackerBackend } from './backend.ts'
import { InFlightJobs } from './in-flight.ts'
import { TrackerKeys } from './keys.ts'
import { SessionListing } from './listing.ts'
import { MemoryTrackerBackend } from './memory.ts'
import {
  type ResolvedTrackerOptions,
  resolveTrackerOptions,
  type TrackedJob,
  type TrackerOptions,
} from './options.ts'
import { PeriodicLoop } from './periodic.ts'
import { OrphanRecovery, type Requeue } from './recovery.ts'
import { RedisTrackerBackend } from './redis.ts'
import { FINISHING, TrackerRunner } from './runner.ts'
import { newSession, type Session } from './session.ts'

/** In-flight jobs per worker instance, heartbeats, and exactly-once orphan recovery (SPEC §7). */
export interface Tracker {
  /** This instance's id (option, else `REDFLEET_INSTANCE_ID`, else random). */
  readonly instanceId: string
  /**
   * Heartbeats now (rejecting if that fails, and then the tracker stays stopped), then every
   * `heartbeatInterval`; with `recoverEvery`, also runs a recovery pass now and periodically.
   * Calling it while started does nothing. Calls of start() and stop() not awaited run in call
   * order: once all settle, the tracker is in the state the last one asked for.
   */
  start(): Promise<void>
  /**
   * Stops the heartbeat and recovery timers (waiting for a running beat or pass) and removes
   * this instance's liveness at once. Jobs still in flight stay tracked, so other instances
   * recover them as orphans, unless `releaseJobs` forgets them. The tracker can start again.
   */
  stop(o?: { releaseJobs?: boolean | undefined }): Promise<void>
  /**
   * Records the job under this instance (one atomic step: membership and payload), runs it,
   * and forgets it once it settles. A tracking failure (Redis down, a payload JSON cannot hold)
   * goes to `onError`; the job runs regardless and its result or error is returned untouched.
   * Track while started: a job of an instance that is not heartbeating is an orphan.
   */
  track<T>(id: string, payload: unknown, run: () => Promise<T>): Promise<T>
  /**
   * Jobs recorded under an instance (default: this one), oldest first: while it is live, those of
   * its current life (a previous life's are orphans); else all of its jobs.
   */
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
   * requeued. Resolves with how many orphans this call requeued. fleet.close() waits for the
   * orphan in hand and completes it; the call then resolves (ClosedError if it requeued none).
   */
  recoverOrphans(requeue: (job: TrackedJob) => Promise<void> | void): Promise<number>
}

/** What close waits for besides the loops: whether the jobs running settled within the grace, and the keep-alive. */
interface Finishing {
  readonly jobs: Promise<boolean>
  readonly beating: Promise<void> | undefined
}

/** A start() or stop() queued behind the ones before it. */
interface Transition {
  readonly kind: 'start' | 'stop'
  readonly done: Promise<void>
}

/**
 * The public tracker: argument checks and the start/stop lifecycle of its session, over its
 * parts — the heartbeat and recovery loops (periodic.ts), the jobs in flight here (in-flight.ts),
 * the index reads (listing.ts) and the orphan sweep (recovery.ts).
 */
class FleetTracker implements Tracker {
  readonly instanceId: string
  readonly #options: ResolvedTrackerOptions
  readonly #runner: TrackerRunner
  readonly #keys: TrackerKeys
  readonly #backend: TrackerBackend
  readonly #jobs: InFlightJobs
  readonly #listing: SessionListing
  readonly #recovery: OrphanRecovery
  readonly #heartbeats: PeriodicLoop
  readonly #recoveries: PeriodicLoop | undefined
  #session: Session
  #running = false
  /** The last start() or stop() not yet settled: each runs after the one queued before it. */
  #pending: Transition | undefined
  /** The session whose heartbeat was sent and not yet removed: what close() removes. */
  #live: Session | undefined
  /** Set as close begins (#closeBegins). */
  #finishing: Finishing | undefined
  readonly #lifecycle: Lifecycle
  /** Takes this tracker out of what close does, while it knows of it (#hookClose). */
  #unhook: (() => void) | undefined

  constructor(ctx: FleetContext, options: TrackerOptions) {
    this.#options = resolveTrackerOptions(options)
    this.instanceId = this.#options.instanceId
    this.#runner = new TrackerRunner(ctx, options)
    this.#keys = new TrackerKeys(ctx.keys)
    this.#backend =
      ctx.topology === 'memory'
        ? new MemoryTrackerBackend(ctx.memory)
        : new RedisTrackerBackend(ctx.redisHandle)
    this.#jobs = new InFlightJobs(this.instanceId, this.#backend, this.#runner)
    this.#listing = new SessionListing(this.#keys, this.#backend, this.#runner)
    this.#recovery = new OrphanRecovery(this.#listing, this.#backend, this.#runner, {
      lockTtl: this.#options.recoveryLockTtl,
      retryEvery: ctx.commandTimeout,
    })
    // The heartbeat loop ends only with stop() or fleet.close(): liveness returns as soon as Redis does.
    this.#heartbeats = new PeriodicLoop(
      this.#options.heartbeatInterval,
      () => {
        const session = this.#session
        return this.#runner.traced('heartbeat', this.#instance, async () => {
          await this.#runner.run('heartbeat', undefined, () => this.#heartbeat(session))
          if (session.leftover.size > 0) await this.#jobs.removeLeftovers(session)
        })
      },
      (error) => this.#runner.report(error, 'heartbeat'),
    )
    const { recoverEvery, requeue } = this.#options
    if (recoverEvery > 0 && requeue) {
      this.#recoveries = new PeriodicLoop(
        recoverEvery,
        () =>
          this.#runner.traced('recoverEvery', this.#instance, () =>
            this.#recovery.pass(requeue, 'recoverEvery'),
          ),
        (error) => this.#runner.report(error, 'recoverEvery'),
      )
    }
    this.#session = newSession(this.#keys)
    this.#lifecycle = ctx.lifecycle
  }

  /**
   * Registers what close must do for this tracker, on a call that close waits for (start, stop,
   * track, recoverOrphans), until it has nothing left for close (#unhookIfIdle): a tracker made
   * per request to read (`orphans()`) was kept, with two hooks, until the fleet closed
   * (helper-218: 6 KB each), and so was one made per batch, started, stopped and dropped
   * (helper-324: 7 KB each).
   */
  #hookClose(): void {
    if (this.#unhook) return
    // As close begins, before any cleanup runs (see #closeBegins); then this tracker's cleanup.
    const unlisten = onAbort(this.#lifecycle.signal, () => this.#closeBegins())
    const unregister = this.#lifecycle.onClose(() => this.#shutdown())
    this.#unhook = () => {
      unlisten()
      unregister()
    }
  }

  /**
   * Lets close forget this tracker once nothing of it is left for close: stopped (its liveness
   * removed), no start or stop queued, no job running, no recovery pass or requeued orphan in hand.
   */
  #unhookIfIdle(): void {
    if (!this.#unhook || this.#lifecycle.closed) return
    if (this.#running || this.#pending || this.#live || this.#jobs.running > 0 || !this.#recovery.idle) return
    this.#unhook()
    this.#unhook = undefined
  }

  // --- lifecycle ----------------------------------------------------------------------------

  /** What the tracker's traces name (SPEC §11): this instance. */
  readonly #instance = (): Subject => ({ instance: this.instanceId })

  start(): Promise<void> {
    return this.#runner.traced('start', this.#instance, () => this.#start())
  }

  #start(): Promise<void> {
    try {
      this.#runner.assertOpen('start')
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.#running && !this.#pending) return Promise.resolve()
    this.#hookClose()
    return this.#queue('start', () => this.#begin())
  }

  /**
   * Queues a start or stop after the one pending, so the state once all settle is the one the
   * last call asked for; a call asking what the last queued one asks joins it.
   */
  #queue(kind: Transition['kind'], step: () => Promise<void>): Promise<void> {
    const last = this.#pending
    if (last?.kind === kind) return last.done
    const done = (async () => {
      await last?.done.catch(() => undefined)
      await step()
    })()
    const entry: Transition = { kind, done }
    this.#pending = entry
    const settle = () => {
      if (this.#pending === entry) this.#pending = undefined
      this.#unhookIfIdle()
    }
    done.then(settle, settle)
    return done
  }

  async #begin(): Promise<void> {
    if (this.#running) return
    const session = this.#session
    await this.#runner.run('start', undefined, () => {
      this.#live = session
      return this.#heartbeat(session)
    })
    // Closed while the first beat was out: no loop may outlive close, which removes the liveness.
    this.#runner.assertOpen('start')
    // Only once started: a start whose first beat failed leaves the tracker stopped, and its
    // jobs' records must not make it live (helper-299).
    session.heartbeatTtl = this.#options.heartbeatTtl
    this.#running = true
    this.#heartbeats.start()
    this.#recoveries?.start(0)
  }

  #heartbeat(session: Session): Promise<void> {
    const { heartbeatTtl } = this.#options
    return this.#backend.heartbeat(session.keys, session.id, this.instanceId, Date.now(), heartbeatTtl)
  }

  /** Stops both loops and waits for a beat or pass in progress. */
  async #halt(): Promise<void> {
    this.#running = false
    await Promise.all([this.#heartbeats.stop(), this.#recoveries?.stop()])
  }

  stop(o: { releaseJobs?: boolean } = {}): Promise<void> {
    return this.#runner.traced('stop', this.#instance, () => this.#stop(o))
  }

  #stop(o: { releaseJobs?: boolean }): Promise<void> {
    try {
      this.#runner.assertOpen('stop')
      assertCallOptions(o, 'tracker.stop', ['releaseJobs'])
      assertBooleanOption(o?.releaseJobs, 'releaseJobs', 'tracker.stop')
    } catch (error) {
      return Promise.reject(error)
    }
    this.#hookClose()
    return this.#queue('stop', () => this.#end(o.releaseJobs === true))
  }

  async #end(releaseJobs: boolean): Promise<void> {
    const session = this.#session
    // Released too: the jobs that settle while the loops halt. One that settles on a fleet
    // closing meanwhile leaves its record (InFlightJobs), which the release then removes.
    const settling = releaseJobs ? [...session.inFlight.keys()] : []
    await this.#halt()
    // The next start() gets a new session: what this one leaves behind is now an orphan.
    session.ended = true
    // Before the liveness is removed: no record sent after that may make it live again.
    session.heartbeatTtl = undefined
    this.#session = newSession(this.#keys)
    const running = releaseJobs ? [...settling, ...session.inFlight.keys()] : []
    const release = [...new Set([...running, ...completedLeftovers(session)])]
    // A stop begun before fleet.close() is let through while the fleet closes (close waits for
    // it): refused, the jobs it releases would stay recorded, and once they settle on a closed
    // fleet nothing would remove them, so another instance would requeue jobs that completed.
    await this.#runner.run(
      'stop',
      undefined,
      () => this.#backend.leave(session.keys, session.id, release),
      FINISHING,
    )
    if (releaseJobs) this.#jobs.released(session)
    if (this.#live === session) this.#live = undefined
  }

  /**
   * fleet.close(): lets a start or stop in progress settle (a start then finds the fleet closed
   * and starts no loop), stops the loops, waits for the recovery passes to finish the orphans in
   * hand and for the tracked jobs running to settle and be untracked (up to closeGrace), then
   * removes liveness best-effort (connections are still open).
   */
  async #shutdown(): Promise<void> {
    // A requeue that never settles must not hold close for ever: past the grace (or the claim's
    // own ttl, after which another recoverer may take the orphan anyway) close goes on. A start
    // or stop in progress may itself be waiting for that requeue (stop halts the recovery loop).
    // Both from close's start: one grace for the whole fleet, not one per tracker.
    const grace = Math.min(this.#runner.graceLeft(), this.#options.recoveryLockTtl)
    const stopping = (async () => {
      await this.#pending?.done.catch(() => undefined)
      await Promise.all([this.#halt(), this.#recovery.settled()])
    })()
    // Set already: the fleet's signal aborts before any cleanup runs.
    const { jobs, beating } = this.#finishing!
    const [drained, finished] = await Promise.all([settledWithin(stopping, grace), jobs, beating])
    if (!finished) {
      this.#runner.report(
        new TimeoutError(
          `tracker.close: ${this.#jobs.running} tracked job(s) did not settle within ${closeGrace.ms} ms ` +
            'of close; they stay tracked, and other instances recover them as orphans',
        ),
        'close',
      )
    }
    if (!drained) {
      const requeueGrace = Math.min(closeGrace.ms, this.#options.recoveryLockTtl)
      this.#runner.report(
        new TimeoutError(
          `tracker.close: a heartbeat, start, stop or requeue in progress did not settle within ${requeueGrace} ms ` +
            "of close; a requeue's orphan stays claimed until recoveryLockTtl and may then be handed out again",
        ),
        'close',
      )
    }
    this.#session.ended = true
    const live = this.#live
    this.#live = undefined
    if (!live) return
    live.heartbeatTtl = undefined
    try {
      await this.#backend.leave(live.keys, live.id, completedLeftovers(live))
    } catch (error) {
      // Unreachable Redis: the heartbeat expires on its own within heartbeatTtl.
      this.#runner.report(translateError(error, 'tracker.close'), 'close')
    }
  }

  /**
   * Close began. A job that settled once the connections closed could not be untracked: another
   * instance would requeue a job that completed. So close waits for the jobs running, within the
   * grace counted from now, and a started tracker keeps its liveness meanwhile, from now rather
   * than once its own cleanup runs (the cleanups run one after another: another tracker's or a
   * stream's wait may come first): a lapsed liveness would make its jobs orphans while they run.
   */
  #closeBegins(): void {
    const jobs = settledWithin(this.#jobs.settled(), this.#runner.graceLeft())
    // Not once stopped, or asked to stop: its jobs are orphans then, as stop() says.
    const started = this.#running && this.#pending?.kind !== 'stop'
    const beating =
      this.#live && started && this.#jobs.running > 0 ? this.#keepLive(this.#live, jobs) : undefined
    this.#finishing = { jobs, beating }
  }

  /**
   * Heartbeats every heartbeatInterval until `until` settles, while close waits for the jobs (let
   * through as the fleet drains, when the loop's own beats are refused).
   */
  async #keepLive(live: Session, until: Promise<unknown>): Promise<void> {
    const { heartbeatInterval } = this.#options
    do {
      try {
        await this.#runner.run('heartbeat', undefined, () => this.#heartbeat(live), FINISHING)
      } catch (error) {
        this.#runner.report(translateError(error, 'tracker.close'), 'close')
        return
      }
    } while (!(await settledWithin(until, heartbeatInterval)))
  }

  // --- public calls: checks, then the part that does the work ---------------------------------

  track<T>(id: string, payload: unknown, run: () => Promise<T>): Promise<T> {
    return this.#runner.traced(
      'track',
      () => ({ instance: this.instanceId, job: id }),
      () => this.#track(id, payload, run),
    )
  }

  #track<T>(id: string, payload: unknown, run: () => Promise<T>): Promise<T> {
    try {
      // A job id is part of its claim's key: the rule of a key applies.
      assertName(id, 'id', 'tracker.track')
      assertFunction(run, 'run', 'tracker.track')
      this.#runner.assertOpen('track')
    } catch (error) {
      return Promise.reject(error)
    }
    this.#hookClose()
    const tracking = this.#jobs.track(this.#session, id, payload, run)
    const settled = () => this.#unhookIfIdle()
    tracking.then(settled, settled)
    return tracking
  }

  inFlight(instanceId: string = this.instanceId): Promise<TrackedJob[]> {
    return this.#runner.traced(
      'inFlight',
      () => ({ instance: instanceId }),
      () => this.#inFlight(instanceId),
    )
  }

  instances(): Promise<{ id: string; lastSeen: number }[]> {
    return this.#runner.traced('instances', this.#instance, () => this.#instances())
  }

  orphans(): Promise<TrackedJob[]> {
    return this.#runner.traced('orphans', this.#instance, () => this.#orphans())
  }

  recoverOrphans(requeue: Requeue): Promise<number> {
    return this.#runner.traced('recoverOrphans', this.#instance, () => this.#recoverOrphans(requeue))
  }

  async #inFlight(instanceId: string): Promise<TrackedJob[]> {
    assertName(instanceId, 'instanceId', 'tracker.inFlight')
    this.#runner.assertOpen('inFlight')
    return this.#listing.jobsOf('inFlight', await this.#listing.ofInstance('inFlight', instanceId))
  }

  async #instances(): Promise<{ id: string; lastSeen: number }[]> {
    this.#runner.assertOpen('instances')
    return this.#listing.instances('instances')
  }

  async #orphans(): Promise<TrackedJob[]> {
    this.#runner.assertOpen('orphans')
    return this.#listing.jobsOf('orphans', await this.#listing.dead('orphans'))
  }

  async #recoverOrphans(requeue: Requeue): Promise<number> {
    assertFunction(requeue, 'requeue', 'tracker.recoverOrphans')
    this.#runner.assertOpen('recoverOrphans')
    this.#hookClose()
    const passing = this.#recovery.pass(requeue, 'recoverOrphans')
    const settled = () => this.#unhookIfIdle()
    passing.then(settled, settled)
    return passing
  }
}

/** Builds `fleet.tracker(options)`; throws ConfigError for bad options, before any I/O. */
export function createTracker(ctx: FleetContext, options: TrackerOptions = {}): Tracker {
  return new FleetTracker(ctx, options)
}

/**
 * The records of jobs that completed here but could not be removed then (session.leftover), but
 * those running again under the same id: removed as the session leaves, or another instance
 * would recover them as orphans and run them again.
 */
function completedLeftovers(session: Session): string[] {
  return [...session.leftover].filter((id) => !session.inFlight.has(id))
}
