import type { SessionKeys } from './keys.ts'

/**
 * What the tracker needs from where it keeps state. The memory and Redis backends implement
 * the same atomic steps; the tracker does validation, encoding, retries and the recovery loop.
 *
 * The invariant every step keeps, on every topology, with any number of processes:
 *   a session has job records  ⇒  it has a registration token  ⇒  the index lists it
 * (the index entry is written before the token, a record is written only while the token
 * exists, and the token is deleted only once the session is not live and has no records, and
 * the index entry only after that, by compare-and-delete). So no record is ever invisible to
 * recovery, and nothing of a dead session survives its last requeued orphan.
 */
export interface TrackerBackend {
  /** Lists a session in the index (HSET). Done before its token is set. */
  index(sessionId: string, entry: string): Promise<void>
  /** Sets the token if the session has none; returns the token now in place. */
  register(keys: SessionKeys, token: string): Promise<string>
  /** Marks the session live for `ttl` ms; false (nothing written) when it is not registered. */
  heartbeat(keys: SessionKeys, lastSeen: number, ttl: number): Promise<boolean>
  /** Records a job (membership and payload, one step); false (nothing written) when not registered. */
  record(keys: SessionKeys, jobId: string, text: string): Promise<boolean>
  /** Forgets a job that settled. */
  remove(keys: SessionKeys, jobId: string): Promise<void>
  /**
   * Ends liveness and forgets the given jobs, then retires the session when it has no records
   * left. Returns the retired token ('' when there was none), or undefined when records remain.
   */
  leave(keys: SessionKeys, releaseJobIds: readonly string[]): Promise<string | undefined>
  /** Retires a session that is not live and has no records; same answer as `leave`. */
  retire(keys: SessionKeys): Promise<string | undefined>
  /** Removes a session from the index only if its entry is still `entry` (compare-and-delete). */
  unindex(sessionId: string, entry: string): Promise<void>
  /** The whole index: sessionId → entry. */
  sessions(): Promise<Map<string, string>>
  /** lastSeen of each session that is live, undefined for the others; input order. */
  alive(keys: readonly SessionKeys[]): Promise<(string | undefined)[]>
  /** Records (jobId → text) of each session; input order. */
  jobs(keys: readonly SessionKeys[]): Promise<Map<string, string>[]>
  /**
   * Claims one orphan for `ttl` ms: only if the session is not live, the record still exists
   * and nobody holds a claim. Returns the record, or undefined when not claimed.
   */
  claim(keys: SessionKeys, jobId: string, token: string, ttl: number): Promise<string | undefined>
  /**
   * After a successful requeue: forgets the record and drops the claim, unless another recoverer
   * holds the claim now (then false and nothing changes). An expired claim still completes: no
   * one else took the orphan in the meantime, so it was handed out once.
   */
  complete(keys: SessionKeys, jobId: string, token: string): Promise<boolean>
  /** After a failed requeue: drops the claim if it is still ours, so the next pass retries. */
  release(keys: SessionKeys, jobId: string, token: string): Promise<void>
}
