import { streamsAmong } from '../admin/keys.ts'
import type { FleetContext } from '../context.ts'
import { MemoryStream } from '../streams/memory-stream.ts'
import { fieldsOf, numberField } from './replies.ts'

/**
 * Cumulative stream counters of the whole fleet at one moment; the sampler turns the
 * differences between two readings into rates.
 */
export interface StreamCounters {
  /** Entries ever appended to the main stream (what `publish` adds). */
  published: number
  /** Entries read by every group of every stream (each group counts what it read). */
  consumed: number
  /** Of those, the entries acknowledged (read and no longer pending). */
  acked: number
}

/** The key the main stream lives at, relative to the namespace (see src/streams/streams.ts). */
export const MAIN_STREAM = 'streams:events'

/** The memory stream stored at `name` (relative to the namespace), if any. */
export function memoryStream(ctx: FleetContext, name: string): MemoryStream | undefined {
  const value = ctx.memory.get<unknown>(ctx.keys.prefix + name)
  return value instanceof MemoryStream ? value : undefined
}

function memoryCounters(ctx: FleetContext, keys: string[]): StreamCounters {
  const counters = { published: 0, consumed: 0, acked: 0 }
  for (const key of keys) {
    const stream = memoryStream(ctx, key.slice(ctx.keys.prefix.length))
    if (!stream) continue
    // The memory stream keeps no entries-added counter: its length stands in (exact until trimmed).
    if (key === ctx.keys.prefix + MAIN_STREAM) counters.published += stream.length
    for (const group of stream.groups.values()) {
      const read = stream.length - stream.countAfter(group.lastDelivered)
      counters.consumed += read
      counters.acked += read - group.pending.size
    }
  }
  return counters
}

async function redisCounters(ctx: FleetContext, keys: string[]): Promise<StreamCounters> {
  const topology = await ctx.redis()
  const counters = { published: 0, consumed: 0, acked: 0 }
  await Promise.all(
    keys.map(async (key) => {
      const client = topology.client(key)
      if (key === ctx.keys.prefix + MAIN_STREAM) {
        counters.published += numberField(fieldsOf(await client.xinfo('STREAM', key)), 'entries-added') ?? 0
      }
      for (const reply of (await client.xinfo('GROUPS', key)) as unknown[]) {
        const group = fieldsOf(reply)
        // entries-read is nil when Redis lost count (after XGROUP SETID to an arbitrary id).
        const read = numberField(group, 'entries-read')
        if (read === null) continue
        counters.consumed += read
        counters.acked += read - (numberField(group, 'pending') ?? 0)
      }
    }),
  )
  return counters
}

/**
 * Reads the counters of the main stream and the channels among `known` (stream keys a walk of
 * the namespace found): TYPE of each (one pipeline per node; a stream deleted since is left
 * out), then XINFO STREAM / XINFO GROUPS. No SCAN: a new channel counts from the next walk.
 */
export async function readStreamCounters(
  ctx: FleetContext,
  known: readonly string[],
): Promise<StreamCounters> {
  const own = ctx.keys.key('streams', '')
  const main = ctx.keys.prefix + MAIN_STREAM
  const keys = await streamsAmong(ctx, [...new Set([main, ...known.filter((key) => key.startsWith(own))])])
  return ctx.topology === 'memory' ? memoryCounters(ctx, keys) : redisCounters(ctx, keys)
}
