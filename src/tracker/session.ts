import { randomBytes } from 'node:crypto'
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
}

export function newSession(keys: TrackerKeys): Session {
  const id = randomBytes(16).toString('hex')
  return { id, keys: keys.session(id), inFlight: new Map(), leftover: new Set(), ended: false }
}
