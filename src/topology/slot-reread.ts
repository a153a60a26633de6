import type { Cluster, Redis } from 'ioredis'
import { resultWithin } from '../deadline.ts'

/** ioredis' re-read of its slot map from one node (not in its typings): CLUSTER SLOTS, then the map. */
type ReadFromNode = (this: Cluster, node: Redis, done: (error?: Error | null) => void) => void

type Refresh = (this: Cluster, callback?: (error?: Error) => void) => void

/** The re-read under way per client: one at a time, as ioredis' own. */
const rereads = new WeakMap<Cluster, Promise<boolean>>()

/**
 * Makes `client` re-read its slot map (refreshSlotsCache, which ioredis also calls itself: after
 * a MOVED, before re-sending a command refused with CLUSTERDOWN) from the first of its nodes to
 * answer a PING within `within` ms; ioredis' own way before it is connected, or if none answers.
 *
 * ioredis asks its nodes in random order, each within slotsRefreshTimeout (connectTimeout): one
 * frozen node (SIGSTOP, a paused VM) asked first held that re-read, and every re-read asked for
 * meanwhile, for seconds. A master taken over by its replica meanwhile kept getting its slots'
 * commands that much longer (4.4 s after the takeover, with the default 5000 ms), and commands
 * refused with CLUSTERDOWN by a healthy master waited for it before each new try, past their
 * deadline (helper-193). node-redis' re-read asks a master that answers too (node-redis-cluster.ts).
 * Set on redfleet's own Cluster, or on the view of a user's (clientView).
 */
export function rereadFromAnswering(client: Cluster, within: number): void {
  client.refreshSlotsCache = function (this: Cluster, callback?: (error?: Error) => void) {
    // As it is at each call (not kept): what wraps the prototype's later still runs.
    const own = (Object.getPrototypeOf(this) as { refreshSlotsCache: Refresh }).refreshSlotsCache
    if (this.status !== 'ready') return own.call(this, callback)
    void reread(this, within).then((done) => (done ? callback?.() : own.call(this, callback)))
  }
}

/** Has a ready client re-read its slot map; resolves when it is done (never rejects). */
export function rereadSlots(client: Cluster): Promise<void> {
  if (client.status !== 'ready') return Promise.resolve()
  return new Promise((resolve) => client.refreshSlotsCache(() => resolve()))
}

/** Re-reads the map from an answering node; false when none answered or the read failed. */
function reread(client: Cluster, within: number): Promise<boolean> {
  let under = rereads.get(client)
  if (under === undefined) {
    under = readFromAnswering(client, within).finally(() => rereads.delete(client))
    rereads.set(client, under)
  }
  return under
}

async function readFromAnswering(client: Cluster, within: number): Promise<boolean> {
  const readFromNode = (client as unknown as { getInfoFromNode?: ReadFromNode }).getInfoFromNode
  if (typeof readFromNode !== 'function') return false
  const node = await firstToAnswer(client, within)
  if (node === undefined) return false
  const read = await new Promise<boolean>((resolve) =>
    readFromNode.call(client, node, (error) => resolve(!error)),
  )
  // What refreshSlotsCache tells when it has read the map: the layout's listeners follow it.
  if (read) client.emit('refresh')
  return read
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
