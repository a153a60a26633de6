import { isDeadLetterRecord } from './admin/dead-letters.ts'
import { isStreamName, scanKeys, streamLength, streamsAmong } from './admin/keys.ts'
import { operatorTracker } from './admin/orphans.ts'
import { type FleetContext, withClusterHint } from './context.ts'
import { withDeadline } from './deadline.ts'
import { ConnectionError, messageOf, TimeoutError, translateError } from './errors.ts'
import { type Fleet, fleetContext } from './fleet.ts'
import { primitiveOf } from './keyspace.ts'
import { streamBackend } from './streams/access.ts'
import type { GroupLag } from './streams/backend.ts'
import { untraced } from './telemetry.ts'
import type { TrackedJob } from './tracker/index.ts'

/** A consumer group as the snapshot shows it: its pending count, consumers and `groupLag`. */
export type GroupStatus = GroupLag

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

/** The tracker's part of a snapshot. */
export interface TrackerStatus {
  instances: InstanceStatus[]
  /** Jobs in flight on live instances. */
  inFlight: number
  /** How many orphans (jobs of instances no longer live); the jobs are in `orphanJobs`. */
  orphans: number
  orphanJobs: TrackedJob[]
}

/** A snapshot of a fleet, as `redfleet status` prints it and the dashboard shows it. */
export interface FleetStatus {
  topology: string
  namespace: string
  at: string
  /** Live members (membership heartbeats); null when they could not be read (`unavailable`). */
  members: string[] | null
  /** Null when it could not be read (`unavailable`): never zeros standing in for unknown figures. */
  tracker: TrackerStatus | null
  streams: StreamStatus[]
  deadLetters: { channel: string; length: number }[]
  /** Keys per primitive (primitiveOf: a store's own prefix and a view's keys count with theirs). */
  keys: Record<string, number>
  /** True when a node had more keys than were scanned: counts are lower bounds. */
  truncated: boolean
  /**
   * The parts that could not be read (a node of a ring down), each with why; empty when the
   * snapshot is whole. A part listed here is left out (null, or missing from its list), never
   * counted as none.
   */
  unavailable: UnavailablePart[]
}

/** A part of a snapshot that could not be read: `streams` and `deadLetters` name the stream. */
export interface UnavailablePart {
  part: 'members' | 'tracker' | 'streams' | 'deadLetters' | 'keys'
  error: string
}

/** Whether `part` of a snapshot could not be read (then its figures are left out, not zero). */
export function isUnavailable(
  snapshot: { unavailable: readonly UnavailablePart[] },
  part: UnavailablePart['part'],
): boolean {
  return snapshot.unavailable.some((u) => u.part === part)
}

/**
 * Whether streams may be missing from a snapshot: one could not be read, or the walk that finds
 * them left a node out. Its figures (lag, dead letters) are then of the streams read.
 */
export function someStreamsUnread(snapshot: { unavailable: readonly UnavailablePart[] }): boolean {
  return isUnavailable(snapshot, 'streams') || isUnavailable(snapshot, 'keys')
}

async function describeStream(ctx: FleetContext, key: string): Promise<StreamStatus> {
  // groupLag's own computation, not XINFO's `lag` (null after XDEL, counts trimmed entries), for
  // every group in one step: one call per group walked every group each time (helper-318).
  const [length, groups] = await Promise.all([streamLength(ctx, key), streamBackend(ctx).groups(key)])
  return { key, name: key.slice(ctx.keys.prefix.length), length, groups }
}

function countByPrimitive(keys: readonly string[], prefix: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const key of keys) {
    const primitive = primitiveOf(key.slice(prefix.length))
    counts[primitive] = (counts[primitive] ?? 0) + 1
  }
  return counts
}

/** What one walk of a namespace found: its key counts and where its streams are. */
export interface NamespaceKeys {
  /** Keys per primitive (primitiveOf: a store's own prefix and a view's keys count with theirs). */
  keys: Record<string, number>
  /** The stream keys, found by name (isStreamName) and confirmed by TYPE. */
  streams: string[]
  /** True when a node had more keys than were scanned: counts are lower bounds. */
  truncated: boolean
  /** When the walk ended, ms since the epoch. */
  at: number
  /** Why the nodes left out of the walk (down) were: their keys and streams are missing. */
  skipped: unknown[]
}

/**
 * Walks the namespace once: SCAN on every master (src/admin/keys.ts), which visits every key of
 * the node, the application's own too, whatever the MATCH. Its cost grows with the whole
 * keyspace, which is why the dashboard runs it on a slower cadence than its refresh.
 */
export function walkNamespace(fleet: Fleet): Promise<NamespaceKeys> {
  return untraced(async () => {
    const ctx = fleetContext(fleet)
    const prefix = ctx.keys.prefix
    // A node down (a ring's) is left out of the walk rather than failing it: `skipped`.
    const scanned = await scanKeys(ctx, prefix, { skipDown: true })
    // Past SCAN_LIMIT a stream may be among the keys not visited: a second walk, filtered by
    // TYPE, finds them (only namespaces that large pay for it).
    const typed = scanned.truncated
      ? await scanKeys(ctx, prefix, { type: 'stream', skipDown: true })
      : undefined
    const named = (typed ?? scanned).keys.filter((key) => isStreamName(ctx, key))
    return {
      keys: countByPrimitive(scanned.keys, prefix),
      streams: typed ? named : await streamsAmong(ctx, named),
      truncated: scanned.truncated || typed?.truncated === true,
      at: Date.now(),
      skipped: [...scanned.skipped, ...(typed?.skipped ?? [])],
    }
  })
}

/**
 * Channels whose first entry is a dead-letter record (isDeadLetterRecord), among streams already
 * shown: no SCAN of its own. An empty channel that is a group's default dead-letter channel
 * (`<group>:dead`) counts, at 0: a purge leaves it so, and a gauge that vanished instead would
 * read as missing data, not as 0.
 */
async function deadLettersAmong(ctx: FleetContext, shown: Shown[]): Promise<FleetStatus['deadLetters']> {
  const main = ctx.keys.key('streams', 'events')
  const groups = shown.find((s) => s.status.key === main)?.status.groups ?? []
  const groupDefaults = new Set(groups.map((g) => `${g.name}:dead`))
  const found = await Promise.all(
    shown.map(async ({ status, channel, holdsDeadLetters }) => {
      if (channel === undefined) return undefined
      if (status.length === 0) return groupDefaults.has(channel) ? { channel, length: 0 } : undefined
      return (await holdsDeadLetters) ? { channel, length: status.length } : undefined
    }),
  )
  return found.filter((c) => c !== undefined).sort((a, b) => a.channel.localeCompare(b.channel))
}

/**
 * A stream to show; for a channel, its name and, when it holds entries, whether it holds dead
 * letters: its first entry is read as soon as the stream is described.
 */
interface Shown {
  status: StreamStatus
  channel?: string
  holdsDeadLetters?: Promise<boolean>
}

/**
 * What inspect reads of the streams: the problems it meets, and the deadline of every read. Each
 * stream is read on its own from its TYPE to its first entry, all at once: a node that does not
 * answer holds back its own streams only, and the others' reads do not wait for it to time out.
 */
class StreamReads {
  readonly #ctx: FleetContext
  /** Where the channels' streams are: `${prefix}${channel}`. */
  readonly #channels: string

  constructor(
    private readonly fleet: Fleet,
    private readonly problems: Problem[],
    private readonly bound: Bound,
  ) {
    this.#ctx = fleetContext(fleet)
    this.#channels = this.#ctx.keys.key('streams', 'channel', '')
  }

  /**
   * The streams to show. After a walk of its own that read every node, the streams it found.
   * Otherwise (an earlier walk's, or a node left out of this one) those still there, with the
   * main stream and each of its groups' default dead-letter channel (`<group>:dead`) as well:
   * these show at once rather than after the next walk, and one on a node that is down is named
   * unavailable rather than missing without a word (an operator would read "dead letters: none").
   */
  async of(walk: NamespaceKeys, fresh: boolean): Promise<Shown[]> {
    if (fresh && walk.skipped.length === 0) return settled(this.#each(walk.streams, false))
    const main = this.#ctx.keys.key('streams', 'events')
    const tried = [...new Set([main, ...walk.streams])]
    const reads = this.#each(tried, true)
    // Once the main stream is read: each key tried once, so one that could not be read is named once.
    const more = reads[0]!.then((shown) => {
      const dead = (shown?.status.groups ?? []).map((g) => `${this.#channels}${g.name}:dead`)
      return settled(
        this.#each(
          [...new Set(dead)].filter((key) => !tried.includes(key)),
          true,
        ),
      )
    })
    return [...(await settled(reads)), ...(await more)]
  }

  /** Each of `keys` read on its own (confirmed a stream by TYPE first when `confirm`). */
  #each(keys: readonly string[], confirm: boolean): Promise<Shown | undefined>[] {
    return keys.map((key) =>
      this.bound(this.#show(key, confirm)).catch((error: unknown) => {
        this.problems.push({ part: 'streams', name: key.slice(this.#ctx.keys.prefix.length), error })
        return undefined
      }),
    )
  }

  async #show(key: string, confirm: boolean): Promise<Shown | undefined> {
    if (confirm && (await streamsAmong(this.#ctx, [key])).length === 0) return undefined
    const status = await describeStream(this.#ctx, key)
    if (!key.startsWith(this.#channels)) return { status }
    const channel = key.slice(this.#channels.length)
    if (status.length === 0) return { status, channel }
    return { status, channel, holdsDeadLetters: this.#holdsDeadLetters(status.name, channel) }
  }

  /** Whether a channel's first entry is a dead-letter record; a read that fails is a problem. */
  async #holdsDeadLetters(name: string, channel: string): Promise<boolean> {
    try {
      const [first] = await this.bound(this.fleet.streams().readRange(channel, undefined, 1))
      return first !== undefined && isDeadLetterRecord(first)
    } catch (error) {
      this.problems.push({ part: 'deadLetters', name, error })
      return false
    }
  }
}

/** The streams read, in order, without those that are not (or could not be read). */
async function settled(reads: Promise<Shown | undefined>[]): Promise<Shown[]> {
  return (await Promise.all(reads)).filter((shown) => shown !== undefined)
}

/**
 * Looks inside a running fleet: members, tracker instances with their jobs, orphans, streams
 * with their consumer groups' lag, dead-letter channels, and key counts per primitive. Reads
 * only keys under the fleet's namespace; leaves nothing registered on the fleet per call, and
 * traces none of its reads (they are an operator's, not the application's).
 *
 * Walks the namespace once (walkNamespace) unless given `keyspace`, an earlier walk: then the
 * key counts are that walk's, and only the streams it found (and the main stream's) are read,
 * with no SCAN at all.
 *
 * With `within` (ms), a part still unread by then is named in `unavailable` (TimeoutError) rather
 * than waited for: a dashboard must show the rest within its refresh while one node is frozen,
 * each of whose reads waits out its retries.
 */
export function inspectFleet(
  fleet: Fleet,
  o: { keyspace?: NamespaceKeys; within?: number } = {},
): Promise<FleetStatus> {
  // Its reads of keys go to the nodes directly, not through the operation runner: the hint for
  // a ring given a cluster's nodes (a raw MOVED) is added here.
  return untraced(() => inspect(fleet, o.keyspace, boundBy(o.within))).catch((error: unknown) => {
    throw withClusterHint(fleetContext(fleet), error)
  })
}

/** Before a walk (or when it failed): no counts, and only the streams found without one. */
export const NOT_WALKED: NamespaceKeys = { keys: {}, streams: [], truncated: false, at: 0, skipped: [] }

/** A read of one part, bounded by the inspection's deadline (if it has one). */
type Bound = <T>(read: Promise<T>) => Promise<T>

/** Bounds every read by one deadline, `within` ms from now; none without it. */
function boundBy(within: number | undefined): Bound {
  if (within === undefined) return (read) => read
  const end = performance.now() + within
  // The part (and stream) it is about is named beside it (`unavailable`).
  return (read) =>
    withDeadline(
      read,
      Math.max(0, end - performance.now()),
      () => new TimeoutError(`no answer within ${within} ms`),
    )
}

/** A part that could not be read, with the error as it came. */
interface Problem {
  part: UnavailablePart['part']
  /** The stream it is about, for `streams` and `deadLetters`. */
  name?: string
  error: unknown
}

/**
 * Reads each part on its own: a part held by a node that does not answer (one node of a ring
 * down) is named in `unavailable`, and the others are shown. Any other failure (a MOVED from a
 * cluster node read as a ring's, a command refused) fails the whole read, as does a read in
 * which no part could be read at all.
 */
async function inspect(
  fleet: Fleet,
  keyspace: NamespaceKeys | undefined,
  bound: Bound,
): Promise<FleetStatus> {
  const ctx = fleetContext(fleet)
  const problems: Problem[] = []
  const failed = (part: Problem['part'], result: PromiseSettledResult<unknown>) => {
    if (result.status === 'rejected') problems.push({ part, error: result.reason })
  }
  // The streams after the walk they are found by, alongside the members and the tracker.
  const walking = Promise.allSettled([keyspace ?? bound(walkNamespace(fleet))])
  const streamsRead = walking.then(async ([walked]) => {
    failed('keys', walked)
    const walk = walked.status === 'fulfilled' ? walked.value : NOT_WALKED
    for (const error of walk.skipped) problems.push({ part: 'keys', error })
    // Without a walk of its own, the streams it can find without one (StreamReads.of).
    const fresh = walked.status === 'fulfilled' && keyspace === undefined
    const shown = await new StreamReads(fleet, problems, bound).of(walk, fresh)
    const streams = shown.map((s) => s.status)
    return { walked, walk, streams, deadLetters: await deadLettersAmong(ctx, shown) }
  })
  const [members, tracker] = await Promise.allSettled([
    bound(fleet.membership().live()),
    bound(trackerStatus(fleet)),
  ])
  failed('members', members)
  failed('tracker', tracker)
  const { walked, walk, streams, deadLetters } = await streamsRead
  const notOutage = problems.find((p) => !isOutage(p.error))
  // Typed as a call's error: the keyspace walk reads the nodes directly (a raw CLUSTERDOWN).
  if (notOutage) throw translateError(notOutage.error, 'status')
  const nothingRead =
    members.status === 'rejected' &&
    tracker.status === 'rejected' &&
    (keyspace !== undefined || walked.status === 'rejected') &&
    streams.length === 0
  if (nothingRead) throw members.reason
  return {
    topology: fleet.topology,
    namespace: fleet.namespace,
    at: new Date().toISOString(),
    members: members.status === 'fulfilled' ? members.value : null,
    tracker: tracker.status === 'fulfilled' ? tracker.value : null,
    streams,
    deadLetters,
    keys: walk.keys,
    truncated: walk.truncated,
    unavailable: problems.map(({ part, name, error }) => ({
      part,
      error: name === undefined ? messageOf(error) : `${name}: ${messageOf(error)}`,
    })),
  }
}

/** A node that does not answer (down, unreachable, frozen), as opposed to a refused command. */
function isOutage(error: unknown): boolean {
  const translated = translateError(error, 'status')
  return translated instanceof ConnectionError || translated instanceof TimeoutError
}

/** Live tracker instances with their jobs, and the orphans. */
async function trackerStatus(fleet: Fleet): Promise<TrackerStatus> {
  const tracker = operatorTracker(fleet)
  const [live, orphanJobs] = await Promise.all([tracker.instances(), tracker.orphans()])
  const instances = await Promise.all(
    live.map(async (instance) => ({ ...instance, jobs: await tracker.inFlight(instance.id) })),
  )
  return {
    instances,
    inFlight: instances.reduce((sum, i) => sum + i.jobs.length, 0),
    orphans: orphanJobs.length,
    orphanJobs,
  }
}
