import { ConnectionError, RedfleetError, TimeoutError, translateError } from '../errors.ts'
import type { Fleet } from '../fleet.ts'
import {
  type FleetStatus,
  inspectFleet,
  NOT_WALKED,
  type StreamStatus,
  type UnavailablePart,
} from '../inspect.ts'
import type { KeyspaceWatch } from './keyspace.ts'
import type { MemberView, MemberWatch } from './members.ts'
import type { NodeStatus, NodeWatch } from './nodes.ts'

/** A live tracker instance and how many jobs it runs (the jobs are on its drill-down page). */
export interface InstanceView {
  id: string
  lastSeen: number
  inFlight: number
}

/** Everything the overview, `/status.json` and `/metrics` show, read at one moment. */
export interface Snapshot {
  topology: Fleet['topology']
  namespace: string
  /** When it was read, ms since the epoch (the dashboard's clock). */
  at: number
  nodes: NodeStatus[]
  /** Null when not read (`unavailable`), as the tracker. */
  members: MemberView[] | null
  tracker: { instances: InstanceView[]; inFlight: number; orphans: number } | null
  streams: StreamStatus[]
  deadLetters: FleetStatus['deadLetters']
  /** Keys per primitive, as the last walk of the namespace counted them. */
  keys: Record<string, number>
  truncated: boolean
  /**
   * When `keys` were counted (the last walk of the namespace, which also finds the streams other
   * than the main one and its groups' dead-letter channels), ms since the epoch; null before the
   * first walk has ended.
   */
  keysAt: number | null
  /** The parts that could not be read (a node of a ring down), left out of the rest: FleetStatus. */
  unavailable: UnavailablePart[]
}

/** What `/status.json` answers when the fleet cannot be read: the error and the node states. */
export interface SnapshotFailure {
  error: { code: string; message: string; unreachable: boolean }
  at: number
  nodes: NodeStatus[]
}

/**
 * Reads snapshots, one at a time: requests that arrive while a read is running share it, so a
 * dozen open pages cost one read per refresh, not a dozen. A read walks no keyspace: it takes
 * the key counts and the streams from the keyspace watch's last walk.
 */
export class SnapshotReader {
  #running: Promise<Snapshot> | undefined

  constructor(
    private readonly fleet: Fleet,
    private readonly nodes: NodeWatch,
    private readonly members: MemberWatch,
    private readonly keyspace: KeyspaceWatch,
    private readonly deadline: number,
  ) {}

  read(): Promise<Snapshot> {
    this.#running ??= this.#read().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #read(): Promise<Snapshot> {
    const nodes = this.nodes.read()
    const walk = this.keyspace.latest()
    // Each bounded by the deadline: a part on a node that does not answer (down, or frozen and
    // waited out with its retries) is named unavailable, and the rest of the fleet is shown.
    const [status, members] = await Promise.all([
      inspectFleet(this.fleet, { keyspace: walk ?? NOT_WALKED, within: this.deadline }),
      this.members.read().catch((error: unknown) => error as Error),
    ]).catch(async (error: unknown) => {
      throw new SnapshotError(error, await nodes)
    })
    const unavailable = status.unavailable.filter((u) => u.part !== 'members')
    if (members instanceof Error) unavailable.unshift({ part: 'members', error: members.message })
    return {
      topology: this.fleet.topology,
      namespace: this.fleet.namespace,
      at: Date.now(),
      nodes: await nodes,
      members: members instanceof Error ? null : members,
      tracker: status.tracker && {
        instances: status.tracker.instances.map((i) => ({
          id: i.id,
          lastSeen: i.lastSeen,
          inFlight: i.jobs.length,
        })),
        inFlight: status.tracker.inFlight,
        orphans: status.tracker.orphans,
      },
      streams: status.streams.sort((a, b) => a.name.localeCompare(b.name)),
      deadLetters: status.deadLetters,
      keys: status.keys,
      truncated: status.truncated,
      keysAt: walk?.at ?? null,
      unavailable,
    }
  }
}

/** A failed read, with the node states read alongside (they say which node is gone). */
export class SnapshotError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly nodes: NodeStatus[],
  ) {
    super(cause instanceof Error ? cause.message : String(cause))
  }
}

/** The error shape of the JSON endpoints: what failed, and whether it is Redis being unreachable. */
export function failureOf(error: unknown): SnapshotFailure {
  const nodes = error instanceof SnapshotError ? error.nodes : []
  // Raw client errors (the drill-downs send some commands themselves) get redfleet's classes;
  // redfleet's own name their call already.
  const failure = error instanceof SnapshotError ? error.cause : error
  const cause = failure instanceof RedfleetError ? failure : translateError(failure, 'dashboard read')
  const code = cause instanceof RedfleetError ? cause.code : 'ERR_DASHBOARD'
  const unreachable =
    cause instanceof ConnectionError || cause instanceof TimeoutError || nodes.some((n) => !n.up)
  const message = (cause instanceof Error ? cause.message : String(cause)) + notAnswering(nodes)
  return { error: { code, message, unreachable }, at: Date.now(), nodes }
}

/** The nodes that did not answer, named after a failure's own message. */
function notAnswering(nodes: readonly NodeStatus[]): string {
  const silent = nodes.filter((n) => !n.up)
  if (silent.length === 0) return ''
  return `; not answering: ${silent.map((n) => `${n.id} (${n.error})`).join(', ')}`
}
