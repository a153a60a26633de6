import type { FleetContext } from '../context.ts'
import { messageOf } from '../errors.ts'
import { parseInfo } from '../topology/info.ts'
import type { MasterNode, RedisTopology } from '../topology/types.ts'
import { withDeadline } from './deadline.ts'

/** One node of the fleet as INFO describes it (memory: the dashboard's own process). */
export interface NodeStatus {
  id: string
  up: boolean
  /** Why the node is down; absent when up. */
  error?: string
  version: string | null
  usedMemory: number | null
  opsPerSec: number | null
  clients: number | null
  /** Cumulative keyspace hits and misses (INFO stats), for the hit ratio the sampler charts. */
  hits: number | null
  misses: number | null
}

/** The node id of the memory topology: the process the dashboard runs in. */
export const MEMORY_NODE = 'memory'

function numberOf(fields: Map<string, string>, name: string): number | null {
  const value = Number(fields.get(name))
  return fields.has(name) && Number.isFinite(value) ? value : null
}

async function describeNode(id: string, client: MasterNode['client'], deadline: number): Promise<NodeStatus> {
  try {
    const fields = parseInfo(
      await withDeadline(client.info('server', 'clients', 'memory', 'stats'), deadline, `INFO on ${id}`),
    )
    return {
      id,
      up: true,
      version: fields.get('redis_version') ?? null,
      usedMemory: numberOf(fields, 'used_memory'),
      opsPerSec: numberOf(fields, 'instantaneous_ops_per_sec'),
      clients: numberOf(fields, 'connected_clients'),
      hits: numberOf(fields, 'keyspace_hits'),
      misses: numberOf(fields, 'keyspace_misses'),
    }
  } catch (error) {
    return down(id, error)
  }
}

function down(id: string, error: unknown): NodeStatus {
  const none = { version: null, usedMemory: null, opsPerSec: null, clients: null, hits: null, misses: null }
  return { id, up: false, error: messageOf(error), ...none }
}

/**
 * Asks every master for INFO; never rejects. A node that does not answer is down. A cluster
 * client lists only the masters it has a connection to, and drops one the moment it is lost:
 * a master the slot map still names is reported down too, until a failover gives its slots to
 * another and the cluster forgets it. When the topology cannot even list its masters (a
 * cluster whose seeds are all gone), the nodes seen last time are reported down, so `/metrics`
 * keeps saying which nodes are missing.
 */
export class NodeWatch {
  #known: string[] = []

  constructor(
    private readonly ctx: FleetContext,
    private readonly deadline: number,
  ) {}

  async read(): Promise<NodeStatus[]> {
    if (this.ctx.topology === 'memory') {
      const none = { version: process.version, opsPerSec: null, clients: null, hits: null, misses: null }
      return [{ id: MEMORY_NODE, up: true, usedMemory: process.memoryUsage().heapUsed, ...none }]
    }
    let topology: RedisTopology
    let masters: MasterNode[]
    try {
      topology = await withDeadline(this.ctx.redis(), this.deadline, 'connecting')
      masters = await withDeadline(topology.masters(), this.deadline, 'listing the masters')
    } catch (error) {
      return this.#known.map((id) => down(id, error))
    }
    const missing = unlisted(topology, masters, this.#known).map((id) =>
      down(
        id,
        `${id} is unreachable: the cluster client lost its connection, and the slot map still names it`,
      ),
    )
    const nodes = [
      ...(await Promise.all(masters.map((m) => describeNode(m.id, m.client, this.deadline)))),
      ...missing,
    ]
    nodes.sort((a, b) => a.id.localeCompare(b.id))
    this.#known = nodes.map((n) => n.id)
    return nodes
  }
}

/**
 * The masters the topology did not list although it should: on a cluster, those the slot map
 * names; elsewhere (the masters are the configured servers) those listed before.
 */
function unlisted(topology: RedisTopology, masters: MasterNode[], known: string[]): string[] {
  const listed = new Set(masters.map((m) => m.id))
  const owners = topology.slotOwners()
  const expected = owners === undefined ? known : new Set(owners.filter((id) => id !== undefined))
  return [...expected].filter((id) => !listed.has(id))
}
