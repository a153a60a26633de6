/** What the `redfleet` commands that work on a fleet share: a fleet to work on, and Ctrl-C. */
import { resultWithin } from '../deadline.ts'
import { ConfigError } from '../errors.ts'
import { fleetContext } from '../fleet.ts'
import { createFleet, type Fleet } from '../index.ts'
import { explained } from './cluster-down.ts'
import { type FlagOptions, type FleetFlags, fleetOptions, UsageError } from './flags.ts'

/** A fleet for an operator command; ConfigError (a bad --namespace...) is a usage error. */
export function operatorFleet(options: FlagOptions): Fleet {
  try {
    // Failures are reported once, as the command's one-line reason, not as warnings too.
    return createFleet({ ...options, onError: () => {} })
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message)
    throw error
  }
}

/**
 * Runs `work` on a fleet of a running Redis: connects first (so an unreachable Redis is the
 * command's failure, see `connected`), and always closes it.
 */
export async function withFleet<T>(
  command: string,
  flags: FleetFlags,
  work: (fleet: Fleet) => Promise<T>,
): Promise<T> {
  const options = fleetOptions(flags)
  if (options.url === undefined) {
    throw new UsageError(
      `${command} needs --url (or $REDIS_URL): a memory fleet lives inside its own process`,
    )
  }
  const fleet = operatorFleet(options)
  try {
    await connected(fleet)
    return await work(fleet)
  } catch (error) {
    throw await explained(fleet, error)
  } finally {
    await fleet.close()
  }
}

/**
 * Every node answers (`ready()`), or, on a cluster, its slot map was read, or, on a ring, one
 * node answers: a fleet with a node down is what an operator most needs to look at, and a
 * dead-letter channel on a healthy node can still be listed or replayed; a command that needs
 * the dead one says so itself (`status` shows the parts it could read and names the others).
 */
export async function connected(fleet: Fleet): Promise<void> {
  const ready = fleet.ready()
  // A node that takes connections and never answers (frozen) holds ready() for connectTimeout:
  // after one commandTimeout, the part that answers is enough to go on with.
  if (
    (await resultWithin(
      ready.then(() => true),
      fleetContext(fleet).commandTimeout,
    )) === true
  )
    return
  if (!(await partlyReachable(fleet, ready))) await ready
}

async function partlyReachable(fleet: Fleet, ready: Promise<void>): Promise<boolean> {
  if (fleet.topology !== 'cluster' && fleet.topology !== 'sharded') return false
  const topology = await fleetContext(fleet)
    .redis()
    .catch(() => undefined)
  if (topology === undefined) return false
  if (fleet.topology === 'cluster') {
    // Its slot map is read as it connects: not yet on a slow start, then known once ready() ends.
    if (topology.slotOwners() === undefined) await ready.catch(() => undefined)
    return topology.slotOwners() !== undefined
  }
  // The first answer is enough: a frozen node's PING waits out its timeout.
  const pings = (await topology.masters()).map(({ client }) => client.call('PING'))
  return Promise.any(pings).then(
    () => true,
    () => false,
  )
}

/** Resolves on the first SIGINT or SIGTERM (Ctrl-C), after which both handlers are removed. */
export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
