import type { Cluster, Redis } from 'ioredis'
import { resultWithin } from '../deadline.ts'

/** ioredis' re-read of its slot map from one node (not in its typings): CLUSTER SLOTS, then the map. */
type ReadFromNode = (this: Cluster, node: Redis, done: (error?: Error | null) => void) => void

/** The re-read under way per client: one at a time, as ioredis' own refreshSlotsCache. */
const rereads = new WeakMap<Cluster, Promise<void>>()

/**
 * Has a ready ioredis Cluster re-read its slot map (CLUSTER SLOTS) from a node that answers;
 * resolves when it is done (never rejects: the map stays as it was).
 *
 * ioredis' own refreshSlotsCache asks its nodes in random order, each within slotsRefreshTimeout
 * (connectTimeout): one frozen node (SIGSTOP, a paused VM) asked first held that re-read, and
 * every re-read asked for meanwhile, for seconds; a master taken over by its replica meanwhile
 * kept getting its slots' commands that much longer (4.4 s after the takeover, with the default
 * 5000 ms). So the node asked is the first to answer a PING within `within` ms, as node-redis'
 * re-read is (node-redis-cluster.ts); ioredis' own way if none answers or its internals change.
 */
export function rereadSlots(client: Cluster, within: number): Promise<void> {
  if (client.status !== 'ready') return Promise.resolve()
  let reread = rereads.get(client)
  if (reread === undefined) {
    reread = rereadFromAnswering(client, within).finally(() => rereads.delete(client))
    rereads.set(client, reread)
  }
  return reread
}

async function rereadFromAnswering(client: Cluster, within: number): Promise<void> {
  const readFromNode = (client as unknown as { getInfoFromNode?: ReadFromNode }).getInfoFromNode
  const node = typeof readFromNode === 'function' ? await firstToAnswer(client, within) : undefined
  if (readFromNode === undefined || node === undefined) {
    return new Promise((resolve) => client.refreshSlotsCache(() => resolve()))
  }
  const read = await new Promise<boolean>((resolve) =>
    readFromNode.call(client, node, (error) => resolve(!error)),
  )
  // What refreshSlotsCache tells when it has read the map: the layout's listeners follow it.
  if (read) client.emit('refresh')
}

/**
 * The first of the client's nodes to answer a PING within `within` ms, if any. Those it has not
 * connected to yet (its node connections are lazy) connect for it: with one frozen node the only
 * one connected, there would be none to ask.
 */
async function firstToAnswer(client: Cluster, within: number): Promise<Redis | undefined> {
  const nodes = client.nodes('all').filter((node) => node.status !== 'end' && node.status !== 'close')
  return resultWithin(Promise.any(nodes.map((node) => node.ping().then(() => node))), within)
}
