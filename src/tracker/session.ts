import { randomBytes } from 'node:crypto'
import type { SessionKeys, TrackerKeys } from './keys.ts'

/** One start..stop span of this tracker: its own keys, so restarts never mix lives. */
export interface Session {
  readonly id: string
  readonly keys: SessionKeys
  /** This tracker's jobs in flight here: jobId → how many `track` calls hold it. */
  readonly inFlight: Map<string, number>
  /** Stopped: nothing heartbeats it any more; its last settling job retires it. */
  ended: boolean
}

export function newSession(keys: TrackerKeys): Session {
  const id = randomBytes(16).toString('hex')
  return { id, keys: keys.session(id), inFlight: new Map(), ended: false }
}
