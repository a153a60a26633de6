/**
 * Visiting the keys of one fleet namespace, for the operator tools (status, dead letters, demo
 * cleanup): SCAN on every master (never KEYS), or the process keyspace on the memory topology.
 * Every pattern starts with the namespace prefix, glob-escaped, so nothing outside it is seen.
 */
import { escapeGlob } from '../cache/glob.ts'
import type { FleetContext } from '../context.ts'
import { MemoryStream } from '../streams/memory-stream.ts'
import { mastersToScan } from '../topology/masters.ts'
import { inCallerOrder } from '../topology/pipeline.ts'
import type { MasterNode } from '../topology/types.ts'

/** Most keys scanned per node before the result is reported as truncated. */
export const SCAN_LIMIT = 100_000

/**
 * Keys each SCAN call walks (its COUNT). MATCH filters after the walk, so a pass costs one call
 * per SCAN_COUNT keys of the node, the application's keys included: 100 calls for a million.
 */
export const SCAN_COUNT = 10_000

/** Keys under a prefix; `truncated` when a node had more than SCAN_LIMIT of them. */
export interface ScannedKeys {
  keys: string[]
  truncated: boolean
  /** Why the nodes left out were (with `skipDown`): their keys are missing. */
  skipped: unknown[]
}

/**
 * Keys starting with `prefix` (which must start with the fleet's namespace prefix), of Redis type
 * `type` when given. On Redis, SCAN with MATCH (and TYPE) on each master, at most SCAN_LIMIT per
 * node. A node that fails fails the call, unless `skipDown` (the status of a ring with a node
 * down): then its keys are left out and its error is in `skipped`, unless no node answered.
 */
export async function scanKeys(
  ctx: FleetContext,
  prefix: string,
  { type, skipDown = false }: { type?: 'stream'; skipDown?: boolean } = {},
): Promise<ScannedKeys> {
  if (!ctx.keys.owns(prefix)) throw new RangeError(`scanKeys: '${prefix}' is outside the fleet namespace`)
  if (ctx.topology === 'memory') {
    const keys = [...ctx.memory.keys(prefix)].filter(
      (key) => type === undefined || ctx.memory.get(key) instanceof MemoryStream,
    )
    return { keys: keys.sort(), truncated: false, skipped: [] }
  }
  const { masters, unconnected } = await mastersToScan(await ctx.redis())
  const match = `${escapeGlob(prefix)}*`
  const scanNode = async (client: MasterNode['client']) => {
    const keys: string[] = []
    let cursor = '0'
    do {
      const args = ['MATCH', match, 'COUNT', SCAN_COUNT, ...(type ? ['TYPE', type] : [])]
      const [next, batch] = (await client.call('SCAN', cursor, ...args)) as [string, string[]]
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0' && keys.length < SCAN_LIMIT)
    return { keys, truncated: cursor !== '0' }
  }
  const settled = await Promise.allSettled(masters.map(({ client }) => scanNode(client)))
  const skipped = [
    ...settled.flatMap((node) => (node.status === 'rejected' ? [node.reason] : [])),
    ...unconnected,
  ]
  const perNode = settled.flatMap((node) => (node.status === 'fulfilled' ? [node.value] : []))
  if (skipped.length > 0 && (!skipDown || perNode.length === 0)) throw skipped[0]
  return {
    keys: [...new Set(perNode.flatMap((n) => n.keys))].sort(),
    truncated: perNode.some((n) => n.truncated),
    skipped,
  }
}

/**
 * Where redfleet keeps its streams inside a namespace (or a view's): the main stream
 * `streams:events` and the channels `streams:channel:*` (src/streams/streams.ts), and member
 * inboxes `membership:inbox:*` (src/membership/membership.ts).
 */
const STREAM_NAME = /(?:^|:)(?:streams:events$|streams:channel:|membership:inbox:)/

/**
 * Whether `key` is named as one of the fleet's streams. A name only (a store key may be called
 * anything): `streamsAmong` confirms it.
 */
export function isStreamName(ctx: FleetContext, key: string): boolean {
  return ctx.keys.owns(key) && STREAM_NAME.test(key.slice(ctx.keys.prefix.length))
}

/**
 * The keys of `keys` that hold a stream now, in their order: TYPE of each, one pipeline per
 * node. What a SCAN with TYPE stream would say of them, without walking the node.
 */
export async function streamsAmong(ctx: FleetContext, keys: readonly string[]): Promise<string[]> {
  if (ctx.topology === 'memory') return keys.filter((key) => ctx.memory.get(key) instanceof MemoryStream)
  if (keys.length === 0) return []
  const topology = await ctx.redis()
  const batches = await topology.batches(keys)
  const replies = await topology.pipeline(
    batches,
    (pipe, batch) => {
      for (const key of batch.keys) pipe.call('TYPE', key)
    },
    'read',
  )
  const types = inCallerOrder(keys.length, batches, replies)
  return keys.filter((_, i) => String(types[i]) === 'stream')
}

/**
 * Deletes every key of the fleet's namespace (UNLINK, one key per command so that no command
 * spans cluster slots). Returns how many were deleted. For throwaway namespaces (the demo's).
 */
export async function deleteNamespace(ctx: FleetContext): Promise<number> {
  const prefix = ctx.keys.prefix
  if (ctx.topology === 'memory') {
    let deleted = 0
    for (const key of [...ctx.memory.keys(prefix)]) if (ctx.memory.delete(key)) deleted++
    return deleted
  }
  const topology = await ctx.redis()
  let deleted = 0
  for (;;) {
    const { keys, truncated } = await scanKeys(ctx, prefix)
    if (keys.length === 0) return deleted
    const batches = await topology.batches(keys)
    const replies = await topology.pipeline(batches, (pipe, batch) => {
      for (const key of batch.keys) pipe.unlink(key)
    })
    deleted += replies.flat().reduce<number>((sum, n) => sum + Number(n), 0)
    if (!truncated) return deleted
  }
}

/** Number of entries of a stream (XLEN); 0 when it does not exist. */
export async function streamLength(ctx: FleetContext, key: string): Promise<number> {
  if (ctx.topology === 'memory') {
    const stream = ctx.memory.get<unknown>(key)
    return stream instanceof MemoryStream ? stream.length : 0
  }
  return Number(await (await ctx.redis()).client(key).xlen(key))
}
