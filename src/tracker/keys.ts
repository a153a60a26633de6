import type { Keyspace } from '../keyspace.ts'

/**
 * Where one session of a tracker keeps its state. A session is one start..stop span of one
 * tracker (a fresh random id each time), so a worker restarted under the same instance id never
 * mistakes its previous life's orphans for its own live jobs.
 *
 * Every key of a session carries the session id as its hash tag, so a Lua script can touch them
 * all on every topology (one slot in the cluster, one node on the ring). The instance id is never
 * part of a key: it may contain ':' or braces, and it lives in the values instead.
 */
export interface SessionKeys {
  /** String, PX heartbeatTtl: the session is live while it exists; the value is lastSeen (ms). */
  readonly alive: string
  /** Hash jobId → record (payload and start time): membership and payload are one field. */
  readonly jobs: string
  /** String: the registration token, present while the session is listed in the index. */
  readonly reg: string
  /** String, PX recoveryLockTtl: a recoverer's claim on one orphan; the value is its token. */
  claim(jobId: string): string
}

/** The tracker's keys inside a fleet namespace: one fleet-wide index plus per-session keys. */
export class TrackerKeys {
  /** Hash sessionId → index entry (`${token}:${instanceId}`): the only fleet-wide key. */
  readonly index: string
  readonly #keys: Keyspace

  constructor(keys: Keyspace) {
    this.#keys = keys
    this.index = keys.key('tracker', 'sessions')
  }

  session(sessionId: string): SessionKeys {
    const base = this.#keys.key('tracker', `{${sessionId}}`)
    return {
      alive: `${base}:alive`,
      jobs: `${base}:jobs`,
      reg: `${base}:reg`,
      claim: (jobId) => `${base}:claim:${jobId}`,
    }
  }
}

/**
 * An index entry names the registration token and the instance. Tokens are fixed-length hex,
 * so the first ':' separates them whatever the instance id contains.
 */
export function indexEntry(token: string, instanceId: string): string {
  return `${token}:${instanceId}`
}

export function parseIndexEntry(entry: string): { token: string; instanceId: string } | undefined {
  const colon = entry.indexOf(':')
  if (colon <= 0 || colon === entry.length - 1) return undefined
  return { token: entry.slice(0, colon), instanceId: entry.slice(colon + 1) }
}

const SESSION_ID = /^[0-9a-f]{32}$/

/** Session ids come from the index: anything else was not written by redfleet and is skipped. */
export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id)
}
