import type { ClusterOptions, Redis, RedisOptions } from 'ioredis'
import { withDeadline } from '../deadline.ts'
import { ConfigError, ConnectionError, NodeDownError, RedfleetError, TimeoutError } from '../errors.ts'
import { CommandDeadlines, type Timed } from '../transport/deadlines.ts'
import type { Connectable } from '../transport/types.ts'
import { describeFailure, type NodeHealth } from './health.ts'

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
 * Delay before reconnect attempt `times`: one probe per interval while a node is down (calls to
 * it fail at once meanwhile, see health.ts), so it is found again within 250 ms of its return.
 * A SYN every 250 ms to a dead server is cheap.
 */
export const reconnectDelay = (times: number) => Math.min(50 * times, 250)

/**
 * ioredis options shared by every connection. A command waits for at most `reconnectAttempts`
 * reconnects and then fails (watchConnection in health.ts does it, with redfleet's words, rather
 * than ioredis' maxRetriesPerRequest); the connection itself keeps reconnecting in the
 * background, so the fleet heals when Redis returns.
 */
export function redisOptions(settings: ConnectionSettings, dedicated = false): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: settings.connectTimeout,
    // Blocking reads and subscriptions wait as long as they like; 0 means no timeout at all
    // (ioredis would time every command out at once).
    commandTimeout: dedicated || settings.commandTimeout === 0 ? undefined : settings.commandTimeout,
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelay,
    enableOfflineQueue: true,
    // A command sent just before a drop is not blindly re-sent: its caller gets the error and
    // the retry policy decides (re-sending an INCRBY would apply it twice).
    autoResendUnfulfilledCommands: false,
  }
}

/** How many MOVED/ASK/TRYAGAIN/CLUSTERDOWN replies a cluster command follows before it fails. */
const MAX_REDIRECTIONS = 16

/**
 * Delay between the retries of a command refused with CLUSTERDOWN or TRYAGAIN (a multi-key
 * command on a slot being migrated). ioredis' command timer runs across those retries: they must
 * end within half of commandTimeout, so that the caller gets Redis' refusal (not applied,
 * transient: the retry policy may send it again) rather than a timeout whose outcome is unknown.
 */
export function refusalRetryDelay(commandTimeout: number): number {
  if (commandTimeout <= 0) return 100
  return Math.max(1, Math.min(100, Math.floor(commandTimeout / (2 * MAX_REDIRECTIONS))))
}

export function clusterOptions(settings: ConnectionSettings): ClusterOptions {
  const { lazyConnect: _perNode, ...node } = redisOptions(settings)
  return {
    lazyConnect: true,
    redisOptions: node,
    clusterRetryStrategy: reconnectDelay,
    maxRedirections: MAX_REDIRECTIONS,
    // 0: a command whose connection closed is not re-sent by the Cluster client. It may have
    // been applied (an INCRBY would count twice); the operation runner decides by what the
    // operation is (src/operations.ts), as autoResendUnfulfilledCommands does for one node.
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: refusalRetryDelay(settings.commandTimeout),
    retryDelayOnTryAgain: refusalRetryDelay(settings.commandTimeout),
    slotsRefreshTimeout: settings.connectTimeout,
    enableOfflineQueue: true,
    // A loaded slot map is enough. ioredis' ready check (CLUSTER INFO) disconnects when that
    // command times out (a loaded machine) or says cluster_state:fail, and ClusterHealth could
    // not tell that close from unreachable seeds. Without it, a cluster in state fail answers
    // commands with CLUSTERDOWN, retried within commandTimeout (refusalRetryDelay), then failed.
    enableReadyCheck: false,
  }
}

/** Connects (if not yet) and PINGs, turning failure into a ConnectionError naming the node. */
export async function connectAndPing(client: Connectable, name: string, health?: NodeHealth): Promise<void> {
  try {
    if (client.status === 'wait') await client.connect()
    await client.ping()
  } catch (error) {
    if (error instanceof RedfleetError && !(error instanceof NodeDownError)) throw error
    // ioredis says "Connection is closed." for a refused connection: say what happened instead.
    const reason = health ? health.reasonOr(error) : describeFailure(error, name)
    throw new ConnectionError(`cannot reach Redis at ${name}: ${reason}`, {
      cause: error,
      outcome: 'not-applied',
    })
  }
}

/** How long a graceful close may take before the connection is dropped: close never hangs. */
const QUIT_LIMIT = 2000

/**
 * Closes a connection we own: QUIT when it is up (what was sent is answered first), or a hard
 * disconnect when it is not, or when QUIT gets no answer within QUIT_LIMIT (a paused server).
 */
export async function closeClient(
  client: Redis | { quit(): Promise<unknown>; disconnect(): void; status: string },
): Promise<void> {
  if (client.status === 'ready') {
    try {
      await withDeadline(client.quit(), QUIT_LIMIT, () => new TimeoutError('QUIT got no answer'))
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

/**
 * Times out every command sent on an ioredis connection with one timer for the connection
 * (CommandDeadlines) instead of ioredis' one timer per command (its `commandTimeout`, which the
 * connection must be made without): arming and clearing a timer per command costs more than a
 * command's share of the write. A command past its deadline fails as ioredis would fail it.
 */
export function timeCommands(connection: Redis, timeout: number): void {
  if (timeout <= 0) return
  const deadlines = new CommandDeadlines(timeout)
  const send = connection.sendCommand as (this: Redis, command: Timed, ...rest: unknown[]) => unknown
  const timed = function (this: Redis, command: Timed, ...rest: unknown[]) {
    deadlines.add(command)
    return send.call(this, command, ...rest)
  }
  ;(connection as unknown as { sendCommand: typeof timed }).sendCommand = timed
}
