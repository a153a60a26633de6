import { isLastingRefusal } from './errors.ts'
import { parseInfo } from './topology/info.ts'
import type { RedisTopology } from './topology/types.ts'

/**
 * Streams, membership and the tracker keep in Redis what must not be evicted: a stream's entries
 * and its groups' positions, the heartbeats that say a member or a worker is alive (one evicted
 * is a live worker's jobs handed out as orphans), the in-flight jobs. A Redis whose
 * `maxmemory-policy` evicts keys once it is full drops them without a word, so each node that
 * would is warned of, once per process, when a fleet first uses one of those primitives (as
 * BullMQ warns of a queue's Redis). Best effort: a node that does not answer, or an `INFO` the
 * user may not run (ACL), is no warning.
 */
const warned = new Set<string>()

/**
 * How long after a check that failed (a node down at the fleet's first use) it is made again,
 * while the fleet is open; a setting so that a test can shorten it.
 */
export const recheck = { after: 10_000 }

/**
 * One fleet's check of its nodes' eviction policy: wanted once the fleet keeps durable data,
 * started on its first use of Redis then (making a primitive does no I/O), and made again every
 * `recheck.after` ms until one goes through: a process started before its Redis is still warned.
 * A node that refuses INFO for good (an ACL) ends it.
 */
export class EvictionCheck {
  #state: 'unwanted' | 'wanted' | 'started' = 'unwanted'
  #timer: NodeJS.Timeout | undefined
  /** The fleet's: aborts as it closes. */
  readonly #closing: AbortSignal

  constructor(closing: AbortSignal) {
    this.#closing = closing
    closing.addEventListener('abort', () => clearTimeout(this.#timer), { once: true })
  }

  /** Notes that the fleet keeps durable data. */
  want(): void {
    if (this.#state === 'unwanted') this.#state = 'wanted'
  }

  /** On a use of Redis: starts the check, once it is wanted and the first time only. */
  onUse(topology: () => Promise<RedisTopology>): void {
    if (this.#state !== 'wanted') return
    this.#state = 'started'
    this.#run(topology)
  }

  #run(topology: () => Promise<RedisTopology>): void {
    const open = () => !this.#closing.aborted
    if (!open()) return
    topology()
      .then((t) => warnOfEviction(t, open))
      .catch((error: unknown) => {
        // Refused (an ACL without INFO): asking again every few seconds would only fill its log.
        if (!open() || isLastingRefusal(error)) return
        this.#timer = setTimeout(() => this.#run(topology), recheck.after)
        // A library timer must never be what keeps a process alive.
        this.#timer.unref()
      })
  }
}

export async function warnOfEviction(topology: RedisTopology, stillOpen: () => boolean): Promise<void> {
  const masters = await topology.masters()
  await Promise.all(
    masters.map(async ({ id, client }) => {
      const fields = parseInfo(await client.info('memory'))
      const policy = fields.get('maxmemory_policy')
      // Without maxmemory (0) Redis never evicts, whatever the policy says.
      if (policy === undefined || policy === 'noeviction' || Number(fields.get('maxmemory') ?? 0) === 0)
        return
      if (warned.has(id) || !stillOpen()) return
      warned.add(id)
      process.emitWarning(evictionWarning(id, policy), 'RedfleetWarning')
    }),
  )
}

function evictionWarning(id: string, policy: string): string {
  return (
    `redfleet: the Redis at ${id} has maxmemory-policy ${policy}: once it is full it evicts keys, ` +
    'and the streams, membership and tracker keep there what must not be lost (stream entries ' +
    'and group positions, heartbeats: an evicted one hands the jobs of a live worker out as orphans). ' +
    'Set maxmemory-policy noeviction on it, or keep those primitives on a Redis of their own.'
  )
}
