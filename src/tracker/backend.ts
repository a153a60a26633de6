import type { SessionKeys } from './keys.ts'

/** A session's liveness as a heartbeat sets it: lastSeen (ms, the instance's clock) for `ttl` ms. */
export interface Liveness {
  lastSeen: number
  ttl: number
}

/** How completing a recovered orphan went (TrackerBackend.complete). */
export type Completion = 'done' | 'taken' | 'gone'

/**
 * What the tracker needs from where it keeps state. The memory and Redis backends implement
 * the same atomic steps; the tracker does validation, encoding, retries and the recovery loop.
 *
 * The invariant every step keeps, on every topology, with any number of processes:
 *   a session that is live or has job records is listed in its index shard
 * Every step that makes a session live or adds a record lists it in the same atomic step, and
 * only a step that finds it neither live nor holding records unlists it. The shard and the
 * session's keys share one hash tag, which is what makes this one step everywhere. So no record
 * is ever invisible to recovery, and nothing of a dead session outlives its last orphan.
 */
export interface TrackerBackend {
  /** Lists the session and marks it live for `ttl` ms. */
  heartbeat(
    keys: SessionKeys,
    sessionId: string,
    instanceId: string,
    lastSeen: number,
    ttl: number,
  ): Promise<void>
  /**
   * Lists the session and records a job (membership and payload, one field); with `alive` (the
   * session heartbeats), marks it live as a heartbeat would, unless it is live already.
   */
  record(
    keys: SessionKeys,
    sessionId: string,
    instanceId: string,
    jobId: string,
    text: string,
    alive: Liveness | undefined,
  ): Promise<void>
  /** Forgets a job that settled. */
  remove(keys: SessionKeys, jobId: string): Promise<void>
  /** Ends liveness and forgets the given jobs; unlists the session when no record is left. */
  leave(keys: SessionKeys, sessionId: string, releaseJobIds: readonly string[]): Promise<void>
  /** Unlists a session that is not live and has no records; true if it did. */
  retire(keys: SessionKeys, sessionId: string): Promise<boolean>
  /** Every listed session: sessionId → instanceId, over all shards. */
  sessions(shards: readonly string[]): Promise<Map<string, string>>
  /** lastSeen of each session that is live, undefined for the others; input order. */
  alive(keys: readonly SessionKeys[]): Promise<(string | undefined)[]>
  /** Records (jobId → text) of each session; input order. */
  jobs(keys: readonly SessionKeys[]): Promise<Map<string, string>[]>
  /**
   * Claims one orphan for `ttl` ms: only if the session is not live, the record still exists
   * and nobody holds a claim. Returns the record, or undefined when not claimed. A claim that
   * `token` holds already is recognised as this claim's own earlier win: the record again, so a
   * claim whose reply was lost can be re-sent (SPEC §8).
   */
  claim(keys: SessionKeys, jobId: string, token: string, ttl: number): Promise<string | undefined>
  /**
   * After a successful requeue: forgets the record and drops the claim, unless another recoverer
   * holds the claim now ('taken': nothing changes). An expired claim still completes ('done'): no
   * one else took the orphan in the meantime, so it was handed out once. 'gone': the record was
   * removed already, by another recoverer or the job's own instance while requeue ran, or by an
   * earlier send of this same completion (only the caller can tell which).
   */
  complete(keys: SessionKeys, jobId: string, token: string): Promise<Completion>
  /** After a failed requeue: drops the claim if it is still ours, so the next pass retries. */
  release(keys: SessionKeys, jobId: string, token: string): Promise<void>
}
