import { deadLetterChannels } from './admin/dead-letters.ts'
import { scanKeys, streamLength } from './admin/keys.ts'
import { operatorTracker } from './admin/orphans.ts'
import type { FleetContext } from './context.ts'
import { type Fleet, fleetContext } from './fleet.ts'
import { streamBackend } from './streams/access.ts'
import { MemoryStream } from './streams/memory-stream.ts'
import { untraced } from './telemetry.ts'
import type { TrackedJob } from './tracker/index.ts'

export interface GroupStatus {
  name: string
  /** Entries delivered to a consumer and not acked yet. */
  pending: number
  /** The group's `groupLag`: entries not yet acked, never delivered + pending (docs/streams.md). */
  lag: number
  consumers: number
}

export interface StreamStatus {
  /** The full Redis key. */
  key: string
  /** The key inside the namespace, e.g. `streams:events` (the main stream). */
  name: string
  length: number
  groups: GroupStatus[]
}

/** A live tracker instance with the jobs it runs now. */
export interface InstanceStatus {
  id: string
  /** Its last heartbeat, ms since the epoch (its clock). */
  lastSeen: number
  jobs: TrackedJob[]
}

/** A snapshot of a fleet, as `redfleet status` prints it and the dashboard shows it. */
export interface FleetStatus {
  topology: string
  namespace: string
  at: string
  /** Live members (membership heartbeats). */
  members: string[]
  tracker: {
    instances: InstanceStatus[]
    /** Jobs in flight on live instances. */
    inFlight: number
    /** How many orphans (jobs of instances no longer live); the jobs are in `orphanJobs`. */
    orphans: number
    orphanJobs: TrackedJob[]
  }
  streams: StreamStatus[]
  deadLetters: { channel: string; length: number }[]
  /** Keys per primitive: the first name segment after the namespace. */
  keys: Record<string, number>
  /** True when a node had more keys than were scanned: counts are lower bounds. */
  truncated: boolean
}

/** Name, pending count and consumer count of each group of a stream. */
async function groupsOf(ctx: FleetContext, key: string): Promise<Omit<GroupStatus, 'lag'>[]> {
  if (ctx.topology === 'memory') {
    const stream = ctx.memory.get<unknown>(key)
    if (!(stream instanceof MemoryStream)) return []
    // The memory backend keeps no consumer list: count the consumers holding pending entries.
    return [...stream.groups].map(([name, group]) => ({
      name,
      pending: group.pending.size,
      consumers: new Set([...group.pending.values()].map((p) => p.consumer)).size,
    }))
  }
  const groups = (await (await ctx.redis()).client(key).call('XINFO', 'GROUPS', key)) as unknown[][]
  return groups.map((fields) => {
    const info = new Map<string, unknown>()
    for (let i = 0; i < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1])
    return {
      name: String(info.get('name')),
      pending: Number(info.get('pending')),
      consumers: Number(info.get('consumers')),
    }
  })
}

async function describeStream(ctx: FleetContext, key: string): Promise<StreamStatus> {
  const backend = streamBackend(ctx)
  const [length, groups] = await Promise.all([streamLength(ctx, key), groupsOf(ctx, key)])
  return {
    key,
    name: key.slice(ctx.keys.prefix.length),
    length,
    // groupLag's own computation, not XINFO's `lag` (null after XDEL, counts trimmed entries).
    groups: await Promise.all(groups.map(async (g) => ({ ...g, lag: await backend.lag(key, g.name) }))),
  }
}

function countByPrimitive(keys: readonly string[], prefix: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const key of keys) {
    const rest = key.slice(prefix.length)
    const end = rest.indexOf(':')
    const name = rest.slice(0, end === -1 ? undefined : end).replace(/^\{|\}$/g, '')
    counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}

/**
 * Looks inside a running fleet: members, tracker instances with their jobs, orphans, streams
 * with their consumer groups' lag, dead-letter channels, and key counts per primitive. Reads
 * only keys under the fleet's namespace; leaves nothing registered on the fleet per call, and
 * traces none of its reads (they are an operator's, not the application's).
 */
export function inspectFleet(fleet: Fleet): Promise<FleetStatus> {
  return untraced(() => inspect(fleet))
}

async function inspect(fleet: Fleet): Promise<FleetStatus> {
  const ctx = fleetContext(fleet)
  const tracker = operatorTracker(fleet)
  const [members, live, orphanJobs, keys, streamKeys, deadLetters] = await Promise.all([
    fleet.membership().live(),
    tracker.instances(),
    tracker.orphans(),
    scanKeys(ctx, ctx.keys.prefix),
    scanKeys(ctx, ctx.keys.prefix, 'stream'),
    deadLetterChannels(fleet),
  ])
  const instances = await Promise.all(
    live.map(async (instance) => ({ ...instance, jobs: await tracker.inFlight(instance.id) })),
  )
  return {
    topology: fleet.topology,
    namespace: fleet.namespace,
    at: new Date().toISOString(),
    members,
    tracker: {
      instances,
      inFlight: instances.reduce((sum, i) => sum + i.jobs.length, 0),
      orphans: orphanJobs.length,
      orphanJobs,
    },
    streams: await Promise.all(streamKeys.keys.map((key) => describeStream(ctx, key))),
    deadLetters,
    keys: countByPrimitive(keys.keys, ctx.keys.prefix),
    truncated: keys.truncated || streamKeys.truncated,
  }
}
