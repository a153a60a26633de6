/**
 * What membership needs from where it keeps liveness: one sorted set per namespace, member id →
 * expiry time (ms), on the server's clock. The memory and Redis backends implement it.
 */
export interface MembershipBackend {
  /** Marks `id` alive until now + ttl (and drops members already expired). */
  heartbeat(key: string, id: string, ttl: number): Promise<void>
  /** Removes `id` at once. */
  leave(key: string, id: string): Promise<void>
  /** Ids whose expiry is still in the future, in any order. */
  live(key: string): Promise<string[]>
}
