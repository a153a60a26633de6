import type { Keyspace } from '../keyspace.ts'

/**
 * How many hashes the session index is split into. Each shard is one hash tag (one slot in a
 * cluster, one node on the ring), and every key of a session carries its shard's tag, so the
 * index entry and the session's state change together in one script. 16 spreads the tracker's
 * load over up to 16 nodes while a full listing stays one pipeline per node.
 */
export const INDEX_SHARDS = 16

/**
 * Where one session of a tracker keeps its state. A session is one start..stop span of one
 * tracker (a fresh random id each time), so a worker restarted under the same instance id never
 * mistakes its previous life's orphans for its own live jobs. The instance id is never part of
 * a key: it may contain ':' or braces, and it lives in the index values instead.
 */
export interface SessionKeys {
  /** Hash sessionId → instanceId: the index shard that lists this session. */
  readonly index: string
  /** String, PX heartbeatTtl: the session is live while it exists; the value is lastSeen (ms). */
  readonly alive: string
  /** Hash jobId → record (payload and start time): membership and payload are one field. */
  readonly jobs: string
  /** String, PX recoveryLockTtl: a recoverer's claim on one orphan; the value is its token. */
  claim(jobId: string): string
}

/** The tracker's keys inside a fleet namespace. */
export class TrackerKeys {
  /** The index shards, in shard order. */
  readonly shards: readonly string[]
  readonly #keys: Keyspace

  constructor(keys: Keyspace) {
    this.#keys = keys
    this.shards = Array.from({ length: INDEX_SHARDS }, (_, shard) => `${this.#base(shard)}:sessions`)
  }

  /** The namespace is part of the tag, so fleets in different namespaces spread over more slots. */
  #base(shard: number): string {
    return this.#keys.key('tracker', `{${this.#keys.namespace}:${shard}}`)
  }

  session(sessionId: string): SessionKeys {
    const shard = shardOf(sessionId)
    const base = `${this.#base(shard)}:${sessionId}`
    return {
      index: this.shards[shard]!,
      alive: `${base}:alive`,
      jobs: `${base}:jobs`,
      claim: (jobId) => `${base}:claim:${jobId}`,
    }
  }
}

const SESSION_ID = /^[0-9a-f]{32}$/

/** Session ids come from the index: anything else was not written by redfleet and is skipped. */
export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id)
}

/** Session ids are random hex: their first bytes pick the shard evenly. */
function shardOf(sessionId: string): number {
  return Number.parseInt(sessionId.slice(0, 4), 16) % INDEX_SHARDS
}
