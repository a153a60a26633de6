import type { OperationPolicy } from '../context.ts'
import { newToken, tokenKey, tokenLifetime } from '../store/tokens.ts'
import type { PublishId } from './backend.ts'

/**
 * Publish ids (SPEC §8): each publish, publishToChannel and membership.send call gets an id that
 * every send of it carries, and each stream remembers the ids of its latest publishes, so that a
 * send repeated after its reply was lost (a timeout, a dropped connection) adds no second copy and
 * returns the first one's entry id. Like Kafka's idempotent producer, but without a per-producer
 * sequence: any number of processes and pipelined calls publish at once.
 *
 * A stream remembers between GENERATION and 2 * GENERATION publish ids (two hashes, rotated when
 * the latest is full), so memory stays bounded whatever the rate; a repeat is recognised as long
 * as fewer than GENERATION publishes to the same stream came between its first send and itself.
 * The ids are forgotten `tokenLifetime` after the stream's last publish, longer than every
 * retry of one call can take.
 */
export const GENERATION = 1000

/** The publish ids of one primitive: a fresh id per call, and the keys each stream keeps them in. */
export class PublishIds {
  /** For a primitive running with `policy`: ids outlive every retry of one of its calls. */
  static forPolicy(prefix: string, policy: OperationPolicy, commandTimeout: number): PublishIds {
    return new PublishIds(prefix, tokenLifetime(policy.retry.attempts, policy.retry.max, commandTimeout))
  }

  constructor(
    private readonly prefix: string,
    private readonly ttl: number,
    private readonly generation = GENERATION,
  ) {}

  /** A new publish id: unique to this call of this process. */
  next(): string {
    return newToken()
  }

  /** The publish `id` as the stream at `key` remembers it (keys in the stream's slot). */
  of(key: string, id: string): PublishId {
    const latest = `${tokenKey(this.prefix, key)}:published`
    return { id, latest, before: `${latest}:before`, generation: this.generation, ttl: this.ttl }
  }
}
