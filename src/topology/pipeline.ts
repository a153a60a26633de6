import { withDeadline } from '../deadline.ts'
import { APPLIED_BESIDE, partlyApplied, sentNothing } from '../errors.ts'
import type { CommandPipeline } from '../transport/types.ts'
import { inOrderOf } from '../written.ts'
import { execFollowingMigration } from './migrating-pipeline.ts'
import type { Access, Client, KeyBatch, RedisTopology } from './types.ts'

/** Where a batch goes: its node and the lane of that node's connections. */
export type Placement = Pick<KeyBatch, 'node' | 'lane'>

/**
 * The connection a batch goes on, as a name: batches with the same one share a pipeline (and a
 * WAIT). One per node, or per node and lane with `pool.size` > 1.
 */
export function connectionOf(batch: Placement): string {
  return batch.lane === 0 ? batch.node : `${batch.node}#${batch.lane}`
}

/**
 * What a topology adds to its pipelines (ClusterTopology): a limit on how long one connection's
 * pipeline may take, and its own words for a failed reply.
 */
export interface PipelineGuard {
  /** How long one connection's pipeline may take, in ms; 0: as long as its client takes. */
  readonly within: number
  /** The error of a pipeline still unanswered after `within` (`batches`: those it carries). */
  expired(pipe: CommandPipeline, batches: readonly KeyBatch[]): Error
  /** The error a failed reply of `batch` fails the call with, instead of the reply itself. */
  failure(error: unknown, batch: KeyBatch): unknown
}

/**
 * Sends one pipeline per connection (connectionOf) and hands back the replies of each batch in
 * batch order. Shared by every topology: only "which client serves this batch" differs, and
 * what a topology's `guard` adds.
 */
export async function pipelinePerNode(
  batches: readonly KeyBatch[],
  clientOf: (batch: KeyBatch) => Client,
  build: (pipe: CommandPipeline, batch: KeyBatch) => void,
  guard?: PipelineGuard,
  access: Access = 'write',
): Promise<unknown[][]> {
  const byNode = new Map<string, number[]>()
  batches.forEach((batch, i) => {
    const connection = connectionOf(batch)
    const list = byNode.get(connection)
    if (list) list.push(i)
    else byNode.set(connection, [i])
  })
  const out: unknown[][] = new Array(batches.length)
  await everyPart(
    [...byNode.values()].map(async (indexes) => {
      const client = clientOf(batches[indexes[0]!]!)
      const pipe = client.pipeline()
      const bounds: number[] = []
      for (const i of indexes) {
        build(pipe, batches[i]!)
        bounds.push(pipe.length)
      }
      const sent = execFollowingMigration(pipe, client)
      const replies =
        (await (guard && guard.within > 0
          ? withDeadline(sent, guard.within, () =>
              guard.expired(
                pipe,
                indexes.map((i) => batches[i]!),
              ),
            )
          : sent)) ?? []
      let start = 0
      indexes.forEach((batchIndex, n) => {
        const slice = replies.slice(start, bounds[n])
        start = bounds[n]!
        out[batchIndex] = slice.map(([error, value]) => {
          if (!error) return value
          const failure = guard ? guard.failure(error, batches[batchIndex]!) : error
          // A write whose other commands in this pipeline were applied: some keys may be written.
          throw access === 'write' && replies.some(([other]) => !other)
            ? partlyApplied(failure, APPLIED_BESIDE)
            : failure
        })
      })
    }),
    access,
  )
  return out
}

/**
 * Waits for every node's part of a multi-node call: their results, or the first failure. A
 * write's is told as partlyApplied says when another part was sent (or may have been); a read's
 * as it is, since reading changed nothing anywhere.
 */
export async function everyPart<T>(parts: readonly Promise<T>[], access: Access = 'write'): Promise<T[]> {
  if (parts.length === 1) return [await parts[0]!]
  const settled = await Promise.allSettled(parts)
  const failure = settled.find((part): part is PromiseRejectedResult => part.status === 'rejected')
  if (failure === undefined) return settled.map((part) => (part as PromiseFulfilledResult<T>).value)
  if (access === 'read') throw failure.reason
  const sentElsewhere = settled.some(
    (part) => part !== failure && (part.status === 'fulfilled' || !sentNothing(part.reason)),
  )
  throw sentElsewhere ? partlyApplied(failure.reason) : failure.reason
}

/**
 * Keys of one multi-key command at most (a batch's MGET, MSET, UNLINK): a command's arguments
 * are spread into a function call on their way to the socket, and the stack bounds how many
 * one call takes (about 120,000 here; half that where a client spreads them twice). A place
 * with more keys gets several batches.
 */
export const MAX_COMMAND_KEYS = 10_000

/**
 * Groups keys by a placement function (keys with the same place make one batch, of at most
 * MAX_COMMAND_KEYS keys), keeping each key's input position; `where` tells a new batch's node and
 * lane from its first key.
 */
export function groupKeys(
  keys: readonly string[],
  placeOf: (key: string) => string | number,
  where: (key: string) => Placement,
): KeyBatch[] {
  const batches: KeyBatch[] = []
  /** The batch of each place that takes more keys. */
  const open = new Map<string | number, { node: string; lane: number; keys: string[]; indexes: number[] }>()
  keys.forEach((key, index) => {
    const place = placeOf(key)
    let group = open.get(place)
    if (!group || group.keys.length === MAX_COMMAND_KEYS) {
      group = { ...where(key), keys: [], indexes: [] }
      open.set(place, group)
      batches.push(group)
    }
    group.keys.push(key)
    group.indexes.push(index)
  })
  return batches
}

/**
 * The values of keys, one MGET per batch (`RedisTopology.getMany`), in the caller's key order.
 * The MGETs are all sent before any reply is awaited, so each node sees them back to back: one
 * round trip per node, without the cost of a Pipeline object.
 */
export async function getPerBatch(
  topology: RedisTopology,
  keys: readonly string[],
  written?: () => void,
): Promise<(string | null)[]> {
  if (keys.length === 0) return []
  if (topology.oneConnection) return getOnOneConnection(topology, keys)
  const batches = await topology.batches(keys)
  const replies = Promise.all(batches.map((batch) => topology.getMany(batch.keys)))
  return inCallerOrder(keys.length, batches, await inOrderOf(topology, replies, written))
}

/**
 * With `oneConnection`: the values of `keys` (never none) by one MGET, or one per
 * MAX_COMMAND_KEYS keys, all sent before this returns (so in order with the calls made before
 * and after it, which is why nothing waits for this call's keys) and answered in key order.
 */
export function getOnOneConnection(
  topology: RedisTopology,
  keys: readonly string[],
): Promise<(string | null)[]> {
  if (keys.length <= MAX_COMMAND_KEYS) return topology.getMany(keys)
  return Promise.all(commandChunks(keys).map((chunk) => topology.getMany(chunk))).then((replies) =>
    replies.flat(),
  )
}

/** `keys` in runs of at most MAX_COMMAND_KEYS, in order (`keys` itself when it is one run). */
export function commandChunks(keys: readonly string[]): (readonly string[])[] {
  if (keys.length <= MAX_COMMAND_KEYS) return [keys]
  const chunks: (readonly string[])[] = []
  for (let start = 0; start < keys.length; start += MAX_COMMAND_KEYS) {
    chunks.push(keys.slice(start, start + MAX_COMMAND_KEYS))
  }
  return chunks
}

/** Per-batch replies (one per key of the batch) put back in the order of the caller's keys. */
export function inCallerOrder<T>(count: number, batches: readonly KeyBatch[], replies: readonly T[][]): T[] {
  const out = new Array<T>(count)
  batches.forEach((batch, i) => {
    const values = replies[i]!
    batch.indexes.forEach((index, n) => {
      out[index] = values[n]!
    })
  })
  return out
}
