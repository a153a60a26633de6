import { ConfigError } from './errors.ts'
import type { RetryOptions } from './retry.ts'
import type { ConnectionSettings } from './topology/connection.ts'
import { parseServerUrl, type ServerAddress } from './topology/connection.ts'
import type { TopologyKind } from './topology/types.ts'

/** Options of `createFleet` (SPEC §1). */
export interface FleetOptions {
  /** None → 'memory'; one → 'standalone'; several → 'sharded' ring (or cluster seeds). */
  url?: string | string[]
  /** With url(s): connect to a Redis Cluster, seeding from the urls. */
  cluster?: boolean
  /** An existing ioredis Redis or Cluster instance to use instead of url; never closed by redfleet. */
  client?: unknown
  /** Prefix of every key and channel: `${namespace}:...`; default 'rf'. */
  namespace?: string
  /** Command connections per node (default 1). Blocking reads and subscriptions get their own. */
  pool?: { size: number }
  /** Default 5000 ms. */
  connectTimeout?: number
  /** Default 1000 ms (blocking reads excepted). */
  commandTimeout?: number
  /** Reconnects a command waits through before failing; default 1, 0 = fail fast. */
  reconnectAttempts?: number
  /** Default retry policy of every primitive (SPEC §8). */
  retry?: RetryOptions
  /** Where failures go that no caller can receive (reconnects, background loops), and final failures. */
  onError?: (error: unknown, context: { op: string }) => void
}

export interface ResolvedOptions extends ConnectionSettings {
  topology: TopologyKind
  servers: ServerAddress[]
  namespace: string
  client: unknown
  retry: RetryOptions | undefined
}

function nonNegativeNumber(name: string, value: unknown, fallback: number, { integer = false } = {}): number {
  if (value === undefined) return fallback
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw new ConfigError(
      `${name} must be a non-negative ${integer ? 'integer' : 'number'}, got ${String(value)}`,
    )
  }
  return value
}

function defaultOnError(error: unknown, context: { op: string }): void {
  process.emitWarning(
    `redfleet ${context.op}: ${error instanceof Error ? error.message : String(error)}`,
    'RedfleetWarning',
  )
}

function topologyOf(options: FleetOptions, urls: string[]): TopologyKind {
  if (options.client !== undefined) {
    const client = options.client as { isCluster?: unknown; sendCommand?: unknown } | null
    if (typeof client !== 'object' || client === null || typeof client.sendCommand !== 'function') {
      throw new ConfigError('client must be an ioredis Redis or Cluster instance')
    }
    if (urls.length > 0) throw new ConfigError('give either url or client, not both')
    return client.isCluster === true ? 'cluster' : 'standalone'
  }
  if (options.cluster) {
    if (urls.length === 0) throw new ConfigError('cluster: true needs at least one url to seed from')
    return 'cluster'
  }
  if (urls.length === 0) return 'memory'
  return urls.length === 1 ? 'standalone' : 'sharded'
}

/** Validates every option synchronously (ConfigError) and fills in defaults. */
export function resolveOptions(options: FleetOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new ConfigError('createFleet options must be an object')
  const urls = options.url === undefined ? [] : Array.isArray(options.url) ? options.url : [options.url]
  for (const url of urls) {
    if (typeof url !== 'string' || url.length === 0)
      throw new ConfigError('url must be a non-empty string or an array of them')
  }
  const poolSize = nonNegativeNumber('pool.size', options.pool?.size, 1, { integer: true })
  if (poolSize < 1) throw new ConfigError('pool.size must be at least 1')
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new ConfigError('onError must be a function')
  }
  const servers = urls.map(parseServerUrl)
  if (new Set(servers.map((s) => s.id)).size !== servers.length) {
    throw new ConfigError('url lists the same Redis server (host:port/db) twice')
  }
  return {
    topology: topologyOf(options, urls),
    servers,
    namespace: options.namespace ?? 'rf',
    client: options.client,
    retry: options.retry,
    connectTimeout: nonNegativeNumber('connectTimeout', options.connectTimeout, 5000),
    commandTimeout: nonNegativeNumber('commandTimeout', options.commandTimeout, 1000),
    reconnectAttempts: nonNegativeNumber('reconnectAttempts', options.reconnectAttempts, 1, {
      integer: true,
    }),
    poolSize,
    onError: options.onError ?? defaultOnError,
  }
}
