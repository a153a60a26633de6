/** Parsing the flags every `redfleet` command shares; light, so usage errors answer fast. */

/** A mistake in how the command was called: exit code 2 (SPEC §9). */
export class UsageError extends Error {}

/** The flags every command takes (SPEC §9). */
export interface FleetFlags {
  url?: string
  cluster?: boolean
  namespace?: string
}

/** Fleet options as the flags give them (a subset of FleetOptions, without importing the library). */
export interface FlagOptions {
  url?: string | string[]
  cluster?: boolean
  namespace?: string
}

/** What `redfleet dlq` does with a dead-letter channel. */
export const DLQ_ACTIONS = ['list', 'replay', 'purge'] as const
export type DlqAction = (typeof DLQ_ACTIONS)[number]

const REDIS_PROTOCOLS = new Set(['redis:', 'rediss:'])

/** Fleet options from the flags; --url defaults to $REDIS_URL. A malformed url is a usage error. */
export function fleetOptions(flags: FleetFlags): FlagOptions {
  const list = flags.url ?? process.env.REDIS_URL ?? ''
  // Nothing at all is no url; an empty entry in a list (`url1,,url2`, a trailing comma) is malformed.
  const urls = list.trim() === '' ? [] : list.split(',').map((url) => url.trim())
  // Named as the user gave it: a bad $REDIS_URL is not blamed on a --url never typed.
  const source = flags.url === undefined ? '$REDIS_URL' : '--url'
  urls.forEach((url, i) => {
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {}
    // The url is not echoed: it may hold a password.
    if (!parsed || !REDIS_PROTOCOLS.has(parsed.protocol) || parsed.hostname === '') {
      const which = urls.length > 1 ? ` (url ${i + 1} of ${urls.length})` : ''
      throw new UsageError(
        `${source} must be redis://[user:password@]host[:port][/db] (or rediss:// for TLS)${which}`,
      )
    }
  })
  if (flags.cluster && urls.length === 0) throw new UsageError('--cluster needs --url')
  return {
    ...(urls.length === 0 ? {} : { url: urls.length === 1 ? urls[0]! : urls }),
    ...(flags.cluster ? { cluster: true } : {}),
    ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
  }
}

/** A positive integer flag, or a usage error naming it. */
export function positiveIntegerFlag(name: string, text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1) throw new UsageError(`${name} must be a positive integer`)
  return n
}
