import type { Redis } from 'ioredis'
import { type Fleet, fleetContext } from './fleet.ts'

/** Most keys `inspectFleet` scans per node before it reports counts as lower bounds. */
const SCAN_LIMIT = 100_000

export interface StreamStatus {
  key: string
  length: number
  groups: { name: string; pending: number; lag: number | null; consumers: number }[]
}

/** A snapshot of a fleet, as `redfleet status` prints it and the dashboard shows it. */
export interface FleetStatus {
  topology: string
  namespace: string
  at: string
  /** Live members (membership heartbeats). */
  members: string[]
  tracker: { instances: { id: string; lastSeen: number }[]; inFlight: number; orphans: number }
  streams: StreamStatus[]
  /** Keys per primitive: the first name segment after the namespace. */
  keys: Record<string, number>
  /** True when a node had more keys than were scanned: counts are lower bounds. */
  truncated: boolean
}

/** SCANs one node (never KEYS) for the namespace; returns keys and whether it stopped early. */
async function scanNode(
  client: Redis,
  match: string,
): Promise<{ keys: string[]; streams: string[]; truncated: boolean }> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0' && keys.length < SCAN_LIMIT)
  const types =
    keys.length === 0 ? [] : ((await keys.reduce((p, k) => p.type(k), client.pipeline()).exec()) ?? [])
  const streams = keys.filter((_, i) => types[i]?.[1] === 'stream')
  return { keys, streams, truncated: cursor !== '0' }
}

async function describeStream(client: Redis, key: string): Promise<StreamStatus> {
  const [length, groups] = await Promise.all([
    client.xlen(key),
    client.xinfo('GROUPS', key) as Promise<unknown[][]>,
  ])
  return {
    key,
    length,
    groups: groups.map((fields) => {
      const info = new Map<string, unknown>()
      for (let i = 0; i < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1])
      const lag = info.get('lag')
      return {
        name: String(info.get('name')),
        pending: Number(info.get('pending')),
        lag: lag === null || lag === undefined ? null : Number(lag),
        consumers: Number(info.get('consumers')),
      }
    }),
  }
}

function countByPrimitive(keys: readonly string[], prefix: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const key of keys) {
    const rest = key.slice(prefix.length)
    const name = rest
      .slice(0, rest.indexOf(':') === -1 ? undefined : rest.indexOf(':'))
      .replace(/^\{|\}$/g, '')
    counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}

/**
 * Looks inside a running fleet: members, tracked jobs, streams with their consumer groups' lag,
 * and key counts per primitive. Reads only keys under the fleet's namespace.
 */
export async function inspectFleet(fleet: Fleet): Promise<FleetStatus> {
  const ctx = fleetContext(fleet)
  const tracker = fleet.tracker()
  const [members, instances, orphans] = await Promise.all([
    fleet.membership().live(),
    tracker.instances(),
    tracker.orphans(),
  ])
  const inFlight = (await Promise.all(instances.map((i) => tracker.inFlight(i.id)))).flat().length
  const status: FleetStatus = {
    topology: fleet.topology,
    namespace: fleet.namespace,
    at: new Date().toISOString(),
    members,
    tracker: { instances, inFlight, orphans: orphans.length },
    streams: [],
    keys: {},
    truncated: false,
  }
  if (ctx.topology === 'memory') {
    status.keys = countByPrimitive([...ctx.memory.keys(ctx.keys.prefix)], ctx.keys.prefix)
    return status
  }
  const masters = await (await ctx.redis()).masters()
  const scanned = await Promise.all(masters.map((m) => scanNode(m.client, `${ctx.keys.prefix}*`)))
  status.keys = countByPrimitive(
    scanned.flatMap((s) => s.keys),
    ctx.keys.prefix,
  )
  status.truncated = scanned.some((s) => s.truncated)
  status.streams = (
    await Promise.all(
      masters.flatMap((m, i) => scanned[i]!.streams.map((key) => describeStream(m.client, key))),
    )
  ).sort((a, b) => a.key.localeCompare(b.key))
  return status
}
