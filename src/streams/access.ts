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
  const pool = blockingPoolOf(ctx.lifecycle, () => ctx.redis())
  if (blockingConnections !== undefined) pool.atLeast(blockingConnections)
  return new RedisStreamBackend(() => ctx.redis(), pool)
}

/** Validates a channel, group or consumer name: a non-empty string of at most 1024 UTF-8 bytes. */
export function assertName(op: string, what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${op}: ${what} must be a string, got ${typeof value}`)
  if (value.length === 0) throw new TypeError(`${op}: ${what} must not be empty`)
  // At most 3 UTF-8 bytes per UTF-16 unit: short names need no byte count.
  if (value.length <= 341) return
  const bytes = Buffer.byteLength(value)
  if (bytes > 1024) throw new TypeError(`${op}: ${what} is ${bytes} bytes, more than the 1024 allowed`)
}

/** A positive integer option, or its default; `error` builds the error to throw for a bad one. */
export function positiveInteger(
  value: unknown,
  fallback: number,
  error: (message: string) => Error,
  name: string,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw error(`${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}
