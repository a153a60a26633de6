import type { ClusterOptions, Redis, RedisOptions } from 'ioredis'
import { ConfigError, ConnectionError, messageOf, translateError } from '../errors.ts'

/** What the topologies need from the fleet's options. */
export interface ConnectionSettings {
  connectTimeout: number
  commandTimeout: number
  reconnectAttempts: number
  poolSize: number
  onError: (error: unknown, context: { op: string }) => void
}

/** Where one server is, and its identity on the ring (`host:port/db`). */
export interface ServerAddress {
  url: string
  id: string
}

export function parseServerUrl(url: string): ServerAddress {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError(`url ${JSON.stringify(url)} is not a valid redis:// url`)
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`url ${JSON.stringify(url)} must start with redis:// or rediss://`)
  }
  const db = Number(parsed.pathname.slice(1) || '0')
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(`url ${JSON.stringify(url)} has a bad db number`)
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost'
  return { url, id: `${host}:${parsed.port || '6379'}/${db}` }
}

/**
 * Delay before reconnect attempt `times`. Kept short: a command issued while the server is
 * down waits in the offline queue for `reconnectAttempts + 1` attempts before it is rejected,
 * and that must stay well under the command timeout so the caller hears "unreachable"
 * (ConnectionError), not "slow" (TimeoutError). A SYN every 250 ms to a dead server is cheap.
 */
export const reconnectDelay = (times: number) => Math.min(50 * times, 250)

/**
 * ioredis options shared by every connection. Commands fail after `reconnectAttempts`
 * reconnects (so a dead server is reported in milliseconds, not queued forever), while the
 * connection itself keeps reconnecting in the background, so the fleet heals when Redis returns.
 */
export function redisOptions(settings: ConnectionSettings, dedicated = false): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: settings.connectTimeout,
    // Blocking reads and subscriptions wait as long as they like; 0 means no timeout at all
    // (ioredis would time every command out at once).
    commandTimeout: dedicated || settings.commandTimeout === 0 ? undefined : settings.commandTimeout,
    maxRetriesPerRequest: dedicated ? null : settings.reconnectAttempts,
    retryStrategy: reconnectDelay,
    enableOfflineQueue: true,
    // A command sent just before a drop is not blindly re-sent: its caller gets the error and
    // the retry policy decides (re-sending an INCRBY would apply it twice).
    autoResendUnfulfilledCommands: false,
  }
}

export function clusterOptions(settings: ConnectionSettings): ClusterOptions {
  const { lazyConnect: _perNode, ...node } = redisOptions(settings)
  return {
    lazyConnect: true,
    redisOptions: node,
    clusterRetryStrategy: reconnectDelay,
    maxRedirections: 16,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: settings.connectTimeout,
    enableOfflineQueue: true,
  }
}

/** Routes a client's background errors (reconnect failures) to the fleet's onError. */
export function reportErrors(
  client: { on(event: 'error', fn: (e: unknown) => void): unknown },
  settings: ConnectionSettings,
  op: string,
): void {
  client.on('error', (error) => {
    try {
      settings.onError(translateError(error, op), { op })
    } catch {
      // A throwing onError must not take the connection down with it.
    }
  })
}

/** Connects (if not yet) and PINGs, turning failure into a ConnectionError naming the node. */
export async function connectAndPing(client: Redis, name: string): Promise<void> {
  try {
    if (client.status === 'wait') await client.connect()
    await client.ping()
  } catch (error) {
    throw new ConnectionError(`cannot reach Redis at ${name}: ${messageOf(error)}`, { cause: error })
  }
}

/** Closes a connection we own: QUIT when it is up, or a hard disconnect when it is not. */
export async function closeClient(
  client: Redis | { quit(): Promise<unknown>; disconnect(): void; status: string },
): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit()
      return
    } catch {
      // fall through to a hard disconnect
    }
  }
  client.disconnect()
}

/**
 * Commands sent on a connection within one tick leave in one write: the socket is corked and
 * uncorked on the next tick (Node's own recipe for many small writes), so a burst of concurrent
 * commands costs one writev system call instead of one write each, and a lone command waits for
 * nothing but the end of the current tick.
 */
export function coalesceWrites(connection: Redis): void {
  const socket = connection.stream
  if (socket === undefined || socket.writableCorked > 0) return
  socket.cork()
  process.nextTick(uncork, socket)
}

function uncork(socket: Redis['stream']): void {
  socket.uncork()
}
