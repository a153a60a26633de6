/** What the `redfleet` commands share: usage errors, the common flags, and a fleet to work on. */
import { ConfigError } from '../errors.ts'
import { createFleet, type Fleet, type FleetOptions } from '../index.ts'

/** A mistake in how the command was called: exit code 2 (SPEC §9). */
export class UsageError extends Error {}

/** The flags every command takes (SPEC §9). */
export interface FleetFlags {
  url?: string
  cluster?: boolean
  namespace?: string
}

const REDIS_PROTOCOLS = new Set(['redis:', 'rediss:'])

/** Fleet options from the flags; --url defaults to $REDIS_URL. A malformed url is a usage error. */
export function fleetOptions(flags: FleetFlags): FleetOptions {
  const urls = (flags.url ?? process.env.REDIS_URL ?? '').split(',').filter((u) => u.trim() !== '')
  urls.forEach((url, i) => {
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {}
    // The url is not echoed: it may hold a password.
    if (!parsed || !REDIS_PROTOCOLS.has(parsed.protocol) || parsed.hostname === '') {
      const which = urls.length > 1 ? ` (url ${i + 1} of ${urls.length})` : ''
      throw new UsageError(`--url must be redis://host:port or rediss://host:port${which}`)
    }
  })
  if (flags.cluster && urls.length === 0) throw new UsageError('--cluster needs --url')
  return {
    ...(urls.length === 0 ? {} : { url: urls.length === 1 ? urls[0]! : urls }),
    ...(flags.cluster ? { cluster: true } : {}),
    ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
  }
}

/** A fleet for an operator command; ConfigError (a bad --namespace...) is a usage error. */
export function operatorFleet(options: FleetOptions): Fleet {
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
 * command's failure), and always closes it.
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
    await fleet.ready()
    return await work(fleet)
  } finally {
    await fleet.close()
  }
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

/** A positive integer flag, or a usage error naming it. */
export function positiveIntegerFlag(name: string, text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1) throw new UsageError(`${name} must be a positive integer`)
  return n
}
