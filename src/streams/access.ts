import type { FleetContext } from '../context.ts'
import type { StreamBackend } from './backend.ts'
import { blockingPoolOf } from './blocking-pool.ts'
import { MemoryStreamBackend } from './memory.ts'
import { RedisStreamBackend } from './redis.ts'

/**
 * The stream backend of a fleet: process memory, or Redis with the fleet's pool of blocking
 * connections. Streams and membership's inboxes both read and write through it.
 * `blockingConnections` raises the pool's per-node limit (the largest asked for wins).
 */
export function streamBackend(ctx: FleetContext, blockingConnections?: number): StreamBackend {
  if (ctx.topology === 'memory') return new MemoryStreamBackend(ctx.memory)
  const pool = blockingPoolOf(
    ctx.lifecycle,
    () => ctx.redis(),
    (error) => ctx.onError(error, { op: 'streams.consume' }),
    ctx.failingNodes,
  )
  if (blockingConnections !== undefined) pool.atLeast(blockingConnections)
  return new RedisStreamBackend(ctx.redisHandle, pool)
}
