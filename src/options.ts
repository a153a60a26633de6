import { ConfigError, messageOf } from './errors.ts'
import { withoutRejections } from './hooks.ts'
import type { RetryOptions } from './retry.ts'
import type { ConnectionSettings } from './topology/connection.ts'
import { dbOfUrl, parseServerUrl, type ServerAddress } from './topology/connection.ts'
import type { TopologyKind } from './topology/types.ts'
import {
  booleanOption,
  checkOptions,
  describeValue,
  functionOption,
  invalidOption,
  MAX_TIMER_DELAY,
  numberOption,
  type OptionSchema,
  objectOption,
  oneOfOption,
  retryOption,
  stringOption,
} from './validate.ts'
import { FleetWarnings } from './warnings.ts'

/** Options of `createFleet` (SPEC §1). */
export interface FleetOptions {
  /** None → 'memory'; one → 'standalone'; several → 'sharded' ring (or cluster seeds). */
  url?: string | string[] | undefined
  /** With url(s): connect to a Redis Cluster, seeding from the urls. */
  cluster?: boolean | undefined
  /** true: the in-memory topology on purpose (no warning, allowed in production). */
  memory?: boolean | undefined
  /** An existing client to use instead of url (ioredis Redis or Cluster; node-redis client or cluster); never closed by redfleet. */
  client?: unknown | undefined
  /** Prefix of every key and channel: `${namespace}:...`; default 'rf'. */
  namespace?: string | undefined
  /** Command connections per node (default 1). Blocking reads and subscriptions get their own. */
  pool?: { size: number } | undefined
  /** Default 5000 ms. */
  connectTimeout?: number | undefined
  /** Default 1000 ms (blocking reads excepted). */
  commandTimeout?: number | undefined
  /** Reconnects a command waits through before failing; default 1, 0 = fail fast. */
  reconnectAttempts?: number | undefined
  /** Default retry policy of every primitive (SPEC §8). */
  retry?: RetryOptions | undefined
  /** Where failures go that no caller can receive (reconnects, background loops), and final failures. */
  onError?: ((error: unknown, context: { op: string }) => void) | undefined
  /**
   * The client library redfleet opens its connections with, for a fleet from url(s): 'ioredis'
   * (the default) or 'node-redis' (the `redis` package). With `client`, the client's own.
   */
  transport?: Transport | undefined
}

/** The client libraries a fleet can run on. */
export type Transport = 'ioredis' | 'node-redis'

const TRANSPORTS: readonly Transport[] = ['ioredis', 'node-redis']

export interface ResolvedOptions extends ConnectionSettings {
  topology: TopologyKind
  servers: ServerAddress[]
  namespace: string
  client: unknown
  /** The client library: `client`'s, or the `transport` option's (default 'ioredis'). */
  transport: Transport
  retry: RetryOptions | undefined
  /** The fleet's default warnings (its default onError's, its caches' default errorHandler's). */
  warnings: FleetWarnings
}

/** A url, or an array of them; '' and [] are "no url" (see checkMemoryChoice), '' inside an array is not. */
const urlOption = (value: unknown, name: string) => {
  if (typeof value === 'string') return
  if (!Array.isArray(value)) {
    throw invalidOption(`${name} must be a redis:// url or an array of them, got ${describeValue(value)}`)
  }
  value.forEach((url, index) => {
    if (typeof url !== 'string' || url.length === 0) {
      throw invalidOption(`${name}[${index}] must be a redis:// url, got ${describeValue(url)}`)
    }
  })
}

const clientOption = (value: unknown, name: string) => {
  if (clientKindOf(value) === undefined) {
    throw invalidOption(
      `${name} must be an ioredis Redis or Cluster, or a node-redis client or cluster, got ${describeValue(value)}`,
    )
  }
}

const FLEET_OPTIONS: OptionSchema = {
  url: urlOption,
  cluster: booleanOption,
  memory: booleanOption,
  client: clientOption,
  namespace: stringOption,
  pool: objectOption({ size: numberOption({ min: 1, integer: true }) }),
  // Node's timers hold at most 2^31 - 1 ms (a longer one fires at once); a connect limit of 0
  // would end every attempt before its handshake.
  connectTimeout: numberOption({ min: 1, max: MAX_TIMER_DELAY }),
  commandTimeout: numberOption({ min: 0, max: MAX_TIMER_DELAY }),
  reconnectAttempts: numberOption({ min: 0, integer: true }),
  retry: retryOption,
  onError: functionOption,
  transport: oneOfOption(TRANSPORTS),
}

/** Names other Redis clients use for what a fleet option does: the hint for an unknown one. */
const CLIENT_OPTION_NAMES: Readonly<Record<string, string>> = {
  host: 'url',
  port: 'url',
  username: 'url',
  password: 'url',
  db: 'url',
  socket: 'url',
  keyPrefix: 'namespace',
  prefix: 'namespace',
  maxRetriesPerRequest: 'reconnectAttempts',
  retryStrategy: 'retry',
}

/**
 * ioredis (Redis and Cluster) sends with `sendCommand` and reports a `status` string; node-redis
 * (v4+, client and cluster) has `sendCommand` and `connect` and reports `isOpen`.
 */
function clientKindOf(client: unknown): Transport | undefined {
  if (typeof client !== 'object' || client === null) return undefined
  const c = client as { sendCommand?: unknown; connect?: unknown; status?: unknown; isOpen?: unknown }
  if (typeof c.sendCommand !== 'function') return undefined
  if (typeof c.status === 'string') return 'ioredis'
  if (typeof c.connect === 'function' && typeof c.isOpen === 'boolean') return 'node-redis'
  return undefined
}

function isClusterClient(client: unknown, kind: Transport | undefined): boolean {
  const c = client as { isCluster?: unknown; masters?: unknown }
  return kind === 'ioredis' ? c.isCluster === true : Array.isArray(c.masters)
}

/** The fleets' own default onErrors (no `onError` was given). */
const defaultOnErrors = new WeakSet<object>()

/** Whether `handler` is a fleet's own default (no `onError` was given). */
export function isDefaultOnError(handler: unknown): boolean {
  return typeof handler === 'function' && defaultOnErrors.has(handler)
}

/** A fleet's default onError: a RedfleetWarning, through the fleet's `warnings`. */
function defaultOnError(warnings: FleetWarnings): (error: unknown, context: { op: string }) => void {
  const onError = (error: unknown, context: { op: string }) => {
    const text = `redfleet ${context.op}: ${messageOf(error)}`
    // A node's change of state (op `connection <node>`) is said each time it changes.
    if (context.op.startsWith('connection ')) warnings.announce(context.op, error, text)
    else warnings.warn(context.op, error, text)
  }
  defaultOnErrors.add(onError)
  return onError
}

/** The code of the warning `url: undefined` gives, so it can be told apart (and filtered). */
export const MEMORY_FALLBACK_WARNING = 'REDFLEET_MEMORY_FALLBACK'

let warnedMemoryFallback = false

/**
 * SPEC §1 "Choosing memory": no url at all is memory; a `url` key holding nothing (the
 * `url: process.env.REDIS_URL` case with the variable unset) is memory with one warning per
 * process, or a ConfigError in production, unless `memory: true` says it is meant.
 */
function checkMemoryChoice(options: FleetOptions, urls: string[]): void {
  const urlGiven = urls.length > 0 || options.client !== undefined
  if (options.memory === true) {
    if (urlGiven) {
      throw invalidOption(
        `memory: true cannot be combined with ${urls.length > 0 ? 'a url' : 'a client'}: choose one`,
        'ERR_CONFLICTING_OPTIONS',
      )
    }
    return
  }
  if (urlGiven || options.cluster === true) return
  if (options.memory === false) {
    throw invalidOption('memory: false needs a url or a client to connect to', 'ERR_INVALID_OPTION')
  }
  // `client: undefined` is the same mistake as an empty url: a client variable not set yet.
  const emptyUrl = Object.hasOwn(options, 'url')
    ? 'url is empty (is the environment variable that should hold it unset?)'
    : Object.hasOwn(options, 'client')
      ? 'client is undefined (is the variable that should hold it not set yet?)'
      : undefined
  if (emptyUrl === undefined) return
  if (process.env.NODE_ENV === 'production') {
    throw invalidOption(
      `${emptyUrl}: refusing to run in memory with NODE_ENV=production, where each process would ` +
        'keep its own state. Give a url, or memory: true if that is what you want',
      'ERR_MEMORY_IN_PRODUCTION',
    )
  }
  if (warnedMemoryFallback) return
  warnedMemoryFallback = true
  process.emitWarning(
    `redfleet: ${emptyUrl}, so this fleet runs in process memory and shares nothing with other ` +
      'processes. Give a url, or memory: true to run in memory on purpose',
    { type: 'RedfleetWarning', code: MEMORY_FALLBACK_WARNING },
  )
}

function topologyOf(options: FleetOptions, urls: string[], clientKind: Transport | undefined): TopologyKind {
  if (options.client !== undefined) {
    if (urls.length > 0) throw invalidOption('give either url or client, not both', 'ERR_CONFLICTING_OPTIONS')
    const isCluster = isClusterClient(options.client, clientKind)
    // The client decides; a `cluster` that says otherwise is a mistake, not a wish to follow.
    if (options.cluster !== undefined && options.cluster !== isCluster) {
      const library = clientKind === 'ioredis' ? 'an ioredis' : 'a node-redis'
      throw invalidOption(
        `cluster: ${options.cluster}, but client is ${library} ${isCluster ? 'cluster' : 'client of one server, not a cluster'}`,
        isCluster ? 'ERR_CONFLICTING_OPTIONS' : 'ERR_NOT_A_CLUSTER',
      )
    }
    return isCluster ? 'cluster' : 'standalone'
  }
  if (options.cluster === true) {
    if (urls.length === 0) throw invalidOption('cluster: true needs at least one url to seed from')
    const withDb = urls.find((url) => dbOfUrl(url) !== 0)
    if (withDb !== undefined) {
      throw invalidOption('cluster: true, but a url names a db other than 0: Redis Cluster has db 0 only')
    }
    // Every node is reached with the first seed's settings: TLS for one seed is TLS for all.
    if (new Set(urls.map((url) => new URL(url).protocol)).size > 1) {
      throw invalidOption(
        "cluster: true, but the urls mix redis:// and rediss://: a cluster's nodes all speak TLS, or none does",
        'ERR_CONFLICTING_OPTIONS',
      )
    }
    return 'cluster'
  }
  if (urls.length === 0) return 'memory'
  return urls.length === 1 ? 'standalone' : 'sharded'
}

/** The client library of a fleet: an injected client's own, which `transport` may only repeat. */
function transportOf(options: FleetOptions, clientKind: Transport | undefined): Transport {
  if (clientKind !== undefined && options.transport !== undefined && options.transport !== clientKind) {
    throw invalidOption(
      `transport: '${options.transport}' cannot be combined with a ${clientKind} client: the client decides the transport`,
      'ERR_CONFLICTING_OPTIONS',
    )
  }
  return clientKind ?? options.transport ?? 'ioredis'
}

/** parseServerUrl with the option's code (its message names the url without its password). */
function serverOf(url: string): ServerAddress {
  try {
    return parseServerUrl(url)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    throw invalidOption(error.message)
  }
}

/** Validates every option synchronously (ConfigError with a code) and fills in defaults. */
export function resolveOptions(options: FleetOptions = {}): ResolvedOptions {
  checkOptions(options, FLEET_OPTIONS, { what: 'createFleet options', aliases: CLIENT_OPTION_NAMES })
  const urls = options.url === undefined || options.url === '' ? [] : [options.url].flat()
  checkMemoryChoice(options, urls)
  const servers = urls.map(serverOf)
  if (new Set(servers.map((s) => s.id)).size !== servers.length) {
    throw invalidOption('url lists the same Redis server (host:port/db) twice')
  }
  const clientKind = clientKindOf(options.client)
  const warnings = new FleetWarnings()
  return {
    topology: topologyOf(options, urls, clientKind),
    servers,
    namespace: options.namespace ?? 'rf',
    client: options.client,
    transport: transportOf(options, clientKind),
    retry: options.retry,
    connectTimeout: options.connectTimeout ?? 5000,
    commandTimeout: options.commandTimeout ?? 1000,
    reconnectAttempts: options.reconnectAttempts ?? 1,
    poolSize: options.pool?.size ?? 1,
    onError: options.onError ? withoutRejections(options.onError) : defaultOnError(warnings),
    warnings,
  }
}
