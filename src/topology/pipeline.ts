import type { CommandPipeline } from '../transport/types.ts'
import type { Client, KeyBatch, RedisTopology } from './types.ts'

/**
 * Sends one pipeline per node and hands back the replies of each batch in batch order.
 * Shared by the ring and the cluster: only "which client serves this node" differs.
 */
export async function pipelinePerNode(
  batches: readonly KeyBatch[],
  clientOf: (node: string) => Client,
  build: (pipe: CommandPipeline, batch: KeyBatch) => void,
): Promise<unknown[][]> {
  const byNode = new Map<string, number[]>()
  batches.forEach((batch, i) => {
    const list = byNode.get(batch.node)
    if (list) list.push(i)
    else byNode.set(batch.node, [i])
  })
  const out: unknown[][] = new Array(batches.length)
  await Promise.all(
    [...byNode].map(async ([node, indexes]) => {
      const pipe = clientOf(node).pipeline()
      const bounds: number[] = []
      for (const i of indexes) {
        build(pipe, batches[i]!)
        bounds.push(pipe.length)
      }
      const replies = (await pipe.exec()) ?? []
      let start = 0
      indexes.forEach((batchIndex, n) => {
        const slice = replies.slice(start, bounds[n])
        start = bounds[n]!
        out[batchIndex] = slice.map(([error, value]) => {
          if (error) throw error
          return value
        })
      })
    }),
  )
  return out
}

/** Groups keys by a placement function, keeping each key's input position. */
export function groupKeys(
  keys: readonly string[],
  placeOf: (key: string) => string,
  nodeOf: (place: string) => string,
): KeyBatch[] {
  const groups = new Map<string, { node: string; keys: string[]; indexes: number[] }>()
  keys.forEach((key, index) => {
    const place = placeOf(key)
    let group = groups.get(place)
    if (!group) {
      group = { node: nodeOf(place), keys: [], indexes: [] }
      groups.set(place, group)
    }
    group.keys.push(key)
    group.indexes.push(index)
  })
  return [...groups.values()]
}

/**
 * Runs one multi-key command per batch (MGET, UNLINK, ...) and returns the per-key replies in
 * the caller's key order. The commands are all sent before any reply is awaited, so each node
 * sees them back to back: one round trip per node, without the cost of a Pipeline object.
 */
export async function perKey<T>(
  topology: RedisTopology,
  keys: readonly string[],
  send: (client: Client, keys: readonly string[]) => Promise<T[]>,
): Promise<T[]> {
  // One server: one command, whose reply is already in the caller's order.
  if (topology.kind === 'standalone') return keys.length === 0 ? [] : send(topology.client(keys[0]!), keys)
  const batches = await topology.batches(keys)
  const replies = await Promise.all(batches.map((batch) => send(topology.batchClient(batch), batch.keys)))
  return inCallerOrder(keys.length, batches, replies)
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
