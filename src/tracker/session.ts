import { randomBytes } from 'node:crypto'
import type { Liveness } from './backend.ts'
import type { SessionKeys, TrackerKeys } from './keys.ts'

/** One start..stop span of this tracker: its own keys, so restarts never mix lives. */
export interface Session {
  readonly id: string
  readonly keys: SessionKeys
  /** This tracker's jobs in flight here: jobId → how many `track` calls hold it. */
  readonly inFlight: Map<string, number>
  /**
   * Jobs that settled here whose record could not be removed (Redis failed): removed with a later
   * heartbeat, or another instance would take the job, which completed, for an orphan.
   */
  readonly leftover: Set<string>
  /** Stopped: nothing heartbeats it any more; its last settling job retires it. */
  ended: boolean
  /**
   * While it heartbeats (started, not stopped): its heartbeat TTL. A job recorded then makes it
   * live again if Redis lost its liveness (its node restarted empty), or the job, running, would
   * be an orphan until the next beat and be requeued (helper-298).
   */
  heartbeatTtl: number | undefined
}

/** The liveness a job recorded in `session` restores, as a heartbeat now would (Session.heartbeatTtl). */
export function livenessOf(session: Session): Liveness | undefined {
  const ttl = session.heartbeatTtl
  return ttl === undefined ? undefined : { lastSeen: Date.now(), ttl }
}

export function newSession(keys: TrackerKeys): Session {
  const id = randomBytes(16).toString('hex')
  return {
    id,
    keys: keys.session(id),
    inFlight: new Map(),
    leftover: new Set(),
    ended: false,
    heartbeatTtl: undefined,
  }
}
