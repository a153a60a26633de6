import { ClosedError, SerializationError } from '../errors.ts'
import type { TrackerBackend } from './backend.ts'
import { encodeRecord } from './record.ts'
import { FINISHING, type TrackerRunner } from './runner.ts'
import { livenessOf, type Session } from './session.ts'

/** One track() call, as close waits for it (InFlightJobs.settled). */
interface TrackCall {
  readonly session: Session
  forgotten: boolean
  readonly forget: () => void
}

/** 'unsure': the record failed, but may have landed (a timeout): it is removed quietly afterwards. */
type Recorded = 'yes' | 'unsure' | 'no'

/**
 * The jobs this process runs: each recorded under the session it started in while it runs,
 * forgotten once it settles. Tracking never affects the job: its failures go to `onError`.
 */
export class InFlightJobs {
  readonly #instanceId: string
  readonly #backend: TrackerBackend
  readonly #runner: TrackerRunner
  /** Each track() call until its job settled and its record is removed: what close waits for. */
  readonly #calls = new Set<TrackCall>()
  /** Who waits for #calls to be empty (settled). */
  #waiters: (() => void)[] = []

  constructor(instanceId: string, backend: TrackerBackend, runner: TrackerRunner) {
    this.#instanceId = instanceId
    this.#backend = backend
    this.#runner = runner
  }

  /**
   * Settles once every job running now has settled and its record is removed (fleet.close()
   * waits for it, within its grace, before the connections close). A job that awaits the close
   * itself is not waited for.
   */
  settled(): Promise<void> {
    if (this.#calls.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** How many jobs settled() still waits for. */
  get running(): number {
    return this.#calls.size
  }

  track<T>(session: Session, id: string, payload: unknown, run: () => Promise<T>): Promise<T> {
    // Forgotten when its job settled and was untracked, when close was called from inside it,
    // or when its session's jobs were released.
    const call: TrackCall = { session, forgotten: false, forget: () => this.#forget(call) }
    const tracking = this.#track(session, id, payload, () => this.#runner.runUserCode(run, call.forget))
    if (!call.forgotten) {
      this.#calls.add(call)
      tracking.then(call.forget, call.forget)
    }
    return tracking
  }

  /**
   * The jobs of `session` were released (stop({ releaseJobs: true })): no longer tracked, they
   * are nothing close would untrack, nor an orphan another instance recovers. Close does not
   * wait for them, nor report them as staying tracked.
   */
  released(session: Session): void {
    for (const call of [...this.#calls]) if (call.session === session) call.forget()
  }

  #forget(call: TrackCall): void {
    call.forgotten = true
    if (!this.#calls.delete(call) || this.#calls.size > 0) return
    const waiters = this.#waiters
    this.#waiters = []
    for (const resolve of waiters) resolve()
  }

  async #track<T>(session: Session, id: string, payload: unknown, run: () => Promise<T>): Promise<T> {
    session.inFlight.set(id, (session.inFlight.get(id) ?? 0) + 1)
    let recorded: Recorded = 'no'
    try {
      const text = encodeRecord(id, payload, Date.now())
      recorded = 'unsure'
      await this.#runner.run('track', id, () =>
        this.#backend.record(session.keys, session.id, this.#instanceId, id, text, livenessOf(session)),
      )
      recorded = 'yes'
    } catch (error) {
      // Redis failures went through runCommand, which reports them to an onError that listens to
      // each call; these two it never sees.
      if (error instanceof SerializationError || error instanceof ClosedError) {
        this.#runner.report(error, 'track')
      } else this.#runner.reportUnheard(error, 'track')
    }
    let cutOff = false
    try {
      return await run()
    } catch (error) {
      cutOff = isClosedError(error)
      throw error
    } finally {
      await this.#untrack(session, id, recorded, cutOff)
    }
  }

  /** `cutOff`: the job failed with a ClosedError, as its own calls on a closing fleet do (see isClosedError). */
  async #untrack(session: Session, id: string, recorded: Recorded, cutOff: boolean): Promise<void> {
    const holders = (session.inFlight.get(id) ?? 1) - 1
    if (holders > 0) {
      // The same id is still running in another track() call: its record stays.
      session.inFlight.set(id, holders)
      return
    }
    session.inFlight.delete(id)
    session.leftover.delete(id)
    // A job that settles while the fleet closes is untracked (close waits for it), success or
    // failure (SPEC §7), unless the close cut it off: failed with a ClosedError, its own calls on
    // the fleet refused, it keeps its record, an orphan another instance recovers. So does one
    // that settles once the connections are closed, which nothing can untrack any more.
    if (recorded === 'no' || this.#runner.drained || (cutOff && this.#runner.closed)) return
    if (recorded === 'yes') {
      try {
        await this.#runner.run('track', id, () => this.#backend.remove(session.keys, id), FINISHING)
      } catch (error) {
        // The job's own outcome is what track() returns.
        this.#runner.reportUnheard(error, 'track')
        session.leftover.add(id)
      }
    } else {
      await this.#backend.remove(session.keys, id).catch(() => session.leftover.add(id))
    }
    if (session.ended && session.inFlight.size === 0) await this.#retireEnded(session)
  }

  /**
   * Removes the records of jobs that settled while Redis failed (`session.leftover`), with a
   * heartbeat of the session: a record left would make the job, which completed, an orphan once
   * this instance is gone, and another instance would run it again. One that runs again here
   * keeps its record (its own settling removes it). One attempt each, sent as the id is checked:
   * a retry sent later could delete the record of the same id tracked again meanwhile. What fails
   * stays for the next beat, quietly: its first failure was reported.
   */
  async removeLeftovers(session: Session): Promise<void> {
    for (const id of [...session.leftover]) {
      if (session.inFlight.has(id)) {
        session.leftover.delete(id)
        continue
      }
      try {
        await this.#backend.remove(session.keys, id)
        session.leftover.delete(id)
      } catch {
        return
      }
    }
  }

  /** The last job of a stopped session settled: retire the session so the index stays small. */
  async #retireEnded(session: Session): Promise<void> {
    try {
      await this.#runner.run('track', undefined, () => this.#backend.retire(session.keys, session.id))
    } catch {
      // Reported; a recovery pass retires it later anyway.
    }
  }
}

/**
 * A ClosedError, or an error that carries one: as its `cause` (a job wrapping the refusal of its
 * own call in an error of its own), or among an AggregateError's errors. Looked for a few
 * levels deep only: a cause chain can be a cycle.
 */
function isClosedError(error: unknown, depth = 0): boolean {
  if (error instanceof ClosedError) return true
  if (depth >= 8 || !(error instanceof Error)) return false
  if (error instanceof AggregateError && error.errors.some((e) => isClosedError(e, depth + 1))) return true
  return isClosedError(error.cause, depth + 1)
}
