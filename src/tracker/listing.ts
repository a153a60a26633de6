import type { TrackerBackend } from './backend.ts'
import { isSessionId, type SessionKeys, type TrackerKeys } from './keys.ts'
import type { TrackedJob } from './options.ts'
import { byStart, decodeRecord } from './record.ts'
import type { TrackerRunner } from './runner.ts'

/** A session as the index lists it. */
export interface Listed {
  readonly sessionId: string
  readonly instanceId: string
  readonly keys: SessionKeys
}

/**
 * What the session index says, read across all its shards: which sessions are listed, which of
 * them are live, and their jobs. Every read of the tracker (and the recovery pass) starts here.
 */
export class SessionListing {
  readonly #keys: TrackerKeys
  readonly #backend: TrackerBackend
  readonly #runner: TrackerRunner

  constructor(keys: TrackerKeys, backend: TrackerBackend, runner: TrackerRunner) {
    this.#keys = keys
    this.#backend = backend
    this.#runner = runner
  }

  /** Every session the index shards list. */
  async sessions(op: string): Promise<Listed[]> {
    const index = await this.#runner.run(op, undefined, () => this.#backend.sessions(this.#keys.shards))
    const sessions: Listed[] = []
    for (const [sessionId, instanceId] of index) {
      // Not written by redfleet: skipped, never touched.
      if (!isSessionId(sessionId) || instanceId.length === 0) continue
      sessions.push({ sessionId, instanceId, keys: this.#keys.session(sessionId) })
    }
    return sessions
  }

  /** Every listed session and, in the same order, its lastSeen (undefined when not live). */
  async #withLastSeen(op: string): Promise<{ sessions: Listed[]; lastSeen: (string | undefined)[] }> {
    const sessions = await this.sessions(op)
    const lastSeen = await this.#runner.run(op, undefined, () =>
      this.#backend.alive(sessions.map((s) => s.keys)),
    )
    return { sessions, lastSeen }
  }

  /** Listed sessions that are not live: their jobs are orphans. */
  async dead(op: string): Promise<Listed[]> {
    const { sessions, lastSeen } = await this.#withLastSeen(op)
    return sessions.filter((_, i) => lastSeen[i] === undefined)
  }

  /**
   * The sessions of one instance id whose jobs are its in-flight ones: its live sessions (a
   * previous life's are orphans, never the new life's jobs), or every session of the id when
   * none is live (all of its jobs are orphans then).
   */
  async ofInstance(op: string, instanceId: string): Promise<Listed[]> {
    const { sessions, lastSeen } = await this.#withLastSeen(op)
    const own = sessions.filter((s) => s.instanceId === instanceId)
    const live = sessions.filter((s, i) => s.instanceId === instanceId && lastSeen[i] !== undefined)
    return live.length > 0 ? live : own
  }

  /** The jobs of these sessions, oldest first; records redfleet did not write are skipped. */
  async jobsOf(op: string, sessions: Listed[]): Promise<TrackedJob[]> {
    const records = await this.#runner.run(op, undefined, () =>
      this.#backend.jobs(sessions.map((s) => s.keys)),
    )
    const jobs: TrackedJob[] = []
    sessions.forEach((session, i) => {
      for (const [jobId, text] of records[i]!) {
        const job = decodeRecord(jobId, text, session.instanceId)
        if (job) jobs.push(job)
      }
    })
    return jobs.sort(byStart)
  }

  /** Live instances, sorted by id, each with its newest heartbeat. */
  async instances(op: string): Promise<{ id: string; lastSeen: number }[]> {
    const { sessions, lastSeen } = await this.#withLastSeen(op)
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
}
