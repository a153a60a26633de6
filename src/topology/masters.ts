/**
 * The masters a walk of every key SCANs (the operator tools' key walks, the cache's
 * deleteMatched and clear), and those it cannot: a walk without some must say so, never pass for
 * the whole keyspace.
 */
import { NodeDownError } from '../errors.ts'
import type { MasterNode, RedisTopology } from './types.ts'

/**
 * The masters to scan, and the slot owners still without a connection. ioredis drops a cluster
 * node whose connection ended from the masters it lists, though its slots stay its own (until a
 * failover), and adds it back only when a command goes to one of them or the slot map is read
 * again: a master missing that way makes the slot map be read again once, which reconnects it
 * if it is up.
 */
export async function mastersToScan(
  topology: RedisTopology,
): Promise<{ masters: MasterNode[]; unconnected: NodeDownError[] }> {
  const first = await topology.masters()
  const missing = unconnectedOwners(topology.slotOwners(), first)
  if (missing.length === 0) return { masters: first, unconnected: missing }
  await topology.refreshLayout()
  const masters = await topology.masters()
  return { masters, unconnected: unconnectedOwners(topology.slotOwners(), masters) }
}

/**
 * A cluster's masters that serve slots but have no connection even so (see mastersToScan): their
 * keys cannot be scanned, and a walk without them must say so, not pass for the whole namespace.
 */
function unconnectedOwners(
  owners: (string | undefined)[] | undefined,
  masters: MasterNode[],
): NodeDownError[] {
  if (owners === undefined) return []
  const connected = new Set(masters.map((master) => master.id))
  const missing = new Set(owners.filter((id): id is string => id !== undefined && !connected.has(id)))
  return [...missing].map((id) => new NodeDownError(`SCAN not sent: ${id} is not connected (down)`, id))
}
