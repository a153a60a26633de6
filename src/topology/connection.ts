import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis'
import { firstEvent, withDeadline } from '../deadline.ts'
import { ConfigError, ConnectionError, NodeDownError, RedfleetError, TimeoutError } from '../errors.ts'
import { blocksFor, CommandDeadlines, notSentInTime, type Timed, timedOut } from '../transport/deadlines.ts'
import type { Connectable } from '../transport/types.ts'
import { describeFailure, flush, isOwnHandshake, type NodeHealth } from './health.ts'

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

/**
 * A server's url as the client libraries read it. Refused here rather than on first use: spaces
 * around it (the URL parser drops them, ioredis' does not), port 0, and a `?db=` (ioredis reads
 * it, sending `SELECT NaN` for `?db=x`; node-redis ignores it): the db is the path, `/3`.
 */
export function parseServerUrl(url: string): ServerAddress {
  const { parsed, db } = readServerUrl(url)
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost'
  return { url, id: `${host}:${parsed.port || '6379'}/${db}` }
}

/**
 * The ioredis options a server's url needs beyond what ioredis reads of it: TLS for a
 * `rediss://` url in any case. ioredis turns TLS on only for a url that starts with a lower-case
 * `rediss://`, and a Cluster never does from its seeds: a `rediss://` cluster connected in
 * plain text, sending the url's password in the clear (helper-310).
 */
export function ioredisTls(url: string): Pick<RedisOptions, 'tls'> {
  return new URL(url).protocol === 'rediss:' ? { tls: {} } : {}
}

/**
 * `url` with what may be its password masked (`redis://alice:***@host`), however malformed the
 * url is (no scheme, one slash, a `/` in the password): an error naming it ends up in logs. A url
 * the URL parser reads with a host and no userinfo is shown as it is: its `@` (in the path or
 * query) ends no password.
 */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@')
  if (at < 0) return url
  const parsed = parsedOrUndefined(url)
  if (parsed !== undefined && parsed.host !== '' && parsed.username === '' && parsed.password === '')
    return url
  const start = /^(?:[a-z][a-z\d+.-]*:\/\/|rediss?:?\/{0,2})/i.exec(url)?.[0].length ?? 0
  const userinfo = url.slice(start, at)
  const colon = userinfo.indexOf(':')
  return `${url.slice(0, start)}${colon < 0 ? '' : userinfo.slice(0, colon + 1)}***${url.slice(at)}`
}

function parsedOrUndefined(url: string): URL | undefined {
  try {
    return new URL(url)
  } catch {
    return undefined
  }
}

/** The db a server's url names (its path; 0 without one). */
export function dbOfUrl(url: string): number {
  return readServerUrl(url).db
}

function readServerUrl(url: string): { parsed: URL; db: number } {
  const bad = (what: string) => new ConfigError(`url ${JSON.stringify(redactUrl(url))} ${what}`)
  if (url.trim() !== url) throw bad('has spaces around it')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw bad('is not a valid redis:// url')
  }
  // The scheme and its `//`: the URL parser reads `redis:/x` and `redis:host:1` as a path with
  // no host, which would connect to localhost, a host the url did not name (nor does `redis://`).
  if (!/^rediss?:\/\//i.test(url)) throw bad('must start with redis:// or rediss://')
  if (parsed.hostname === '') throw bad('names no host (redis://host:port)')
  if (parsed.port === '0') throw bad('has port 0')
  if (parsed.searchParams.has('db'))
    throw bad('gives the db as ?db=: give it as the path (redis://host:port/3)')
  // Both clients decode them on connecting: a bad %-escape failed every call with a URIError.
  if (!decodes(parsed.username) || !decodes(parsed.password)) {
    throw bad('has a % in its username or password that is not a %-escape of UTF-8 text: write a % as %25')
  }
  const path = parsed.pathname.slice(1)
  const db = /^\d+$/.test(path || '0') ? Number(path || '0') : Number.NaN
  if (!Number.isSafeInteger(db)) throw bad('has a bad db number')
  return { parsed, db }
}

function decodes(component: string): boolean {
  try {
    decodeURIComponent(component)
    return true
  } catch {
    return false
  }
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
    disconnectTimeout: DISCONNECT_TIMEOUT,
  }
}

/**
 * What a dedicated connection (blocking reads, subscriptions) made with `duplicate()` of an
 * ioredis client changes of it: opened on its first command, which waits for the connection
 * (without the queue, a user's client made with `enableOfflineQueue: false` refused it every
 * time: helper-295), and no command timeout (blocking reads wait as long as they asked to).
 */
export const DEDICATED_DUPLICATE = {
  lazyConnect: true,
  commandTimeout: undefined,
  maxRetriesPerRequest: null,
  enableOfflineQueue: true,
} as const

/**
 * How long ioredis waits, after ending a connection it drops, before destroying the socket. Its
 * timer is cleared when the socket closes, but a socket that had closed already (a server that
 * went down) never closes again: the timer then ran out its 2 s default and kept a process that
 * had closed its fleet alive meanwhile. What is dropped is given up: nothing waits to be flushed.
 */
export const DISCONNECT_TIMEOUT = 1

/**
 * node-redis options of a client redfleet makes itself (`transport: 'node-redis'`), as
 * redisOptions for ioredis: it reconnects in the background, one probe per reconnectDelay, and a
 * command waits for at most `reconnectAttempts` reconnects (NodeRedisWatch and OfflineCommands
 * fail it, as watchConnection does for ioredis). Timeouts are redfleet's own (deadlines.ts).
 */
export function nodeRedisOptions(url: string, settings: ConnectionSettings): object {
  return { url, socket: nodeRedisSocket(settings) }
}

/**
 * The `defaults` of a node-redis cluster's node clients: those of nodeRedisOptions, with the
 * credentials and TLS of the seed url (node-redis takes only host and port of the nodes it finds).
 */
export function nodeRedisClusterDefaults(seedUrl: string, settings: ConnectionSettings): object {
  const { username, password, protocol } = new URL(seedUrl)
  return {
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
    socket: { ...nodeRedisSocket(settings), ...(protocol === 'rediss:' ? { tls: true } : {}) },
  }
}

function nodeRedisSocket(settings: ConnectionSettings): object {
  return {
    connectTimeout: settings.connectTimeout,
    // node-redis counts attempts from 0, ioredis from 1.
    reconnectStrategy: (retries: number) => reconnectDelay(retries + 1),
  }
}

/** How many MOVED/ASK/TRYAGAIN/CLUSTERDOWN replies a cluster command follows before it fails. */
export const MAX_REDIRECTIONS = 16

/**
 * Delay between the retries of a command refused with TRYAGAIN (a multi-key command on a slot
 * being migrated), or on node-redis CLUSTERDOWN. On ioredis the command's deadline runs across
 * those retries (on node-redis each try is timed on its own): they must end within half of
 * commandTimeout, so that the caller gets Redis' refusal (not applied, transient: the retry
 * policy may send it again) rather than a timeout whose outcome is unknown.
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
    // 0: a command refused with CLUSTERDOWN fails at once (CommandError, not applied), and the
    // retry policy sends it again to its slot's master. ioredis would send it again itself, to a
    // random master: a frozen one held it past its deadline, and applied it after its caller was
    // told it timed out (helper-193: 7 of 7 increments).
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: refusalRetryDelay(settings.commandTimeout),
    slotsRefreshTimeout: settings.connectTimeout,
    enableOfflineQueue: true,
    // A loaded slot map is enough. ioredis' ready check (CLUSTER INFO) disconnects when that
    // command times out (a loaded machine) or says cluster_state:fail, and ClusterHealth could
    // not tell that close from unreachable seeds. Without it, a cluster in state fail answers
    // commands with CLUSTERDOWN, which the retry policy sends again, then fails.
    enableReadyCheck: false,
  }
}

/** Connects (if not yet) and PINGs, turning failure into a ConnectionError naming the node. */
export async function connectAndPing(client: Connectable, name: string, health?: NodeHealth): Promise<void> {
  try {
    if (client.status === 'wait') await client.connect()
    await client.whenReady?.()
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
export const QUIT_LIMIT = 2000

/**
 * Closes a connection we own: QUIT when it is up (what was sent is answered first), or a hard
 * disconnect when it is not, or when QUIT gets no answer within QUIT_LIMIT (a paused server).
 * An ioredis connection still on its first attempt is given until QUIT_LIMIT to come up: the
 * commands of calls made before close wait in its offline queue, and a disconnect would fail
 * them (a fleet closed right after its first calls).
 */
export async function closeClient(
  client: Redis | { quit(): Promise<unknown>; disconnect(): unknown; status: string },
): Promise<void> {
  if (client.status === 'connecting' || client.status === 'connect') await settledAttempt(client)
  if (client.status === 'ready') {
    try {
      await withDeadline(client.quit(), QUIT_LIMIT, () => new TimeoutError('QUIT got no answer'))
      return
    } catch {
      // fall through to a hard disconnect
    }
  }
  // What still waits in ioredis' offline queue was never sent: it fails as not sent (so its
  // ClosedError says 'not-applied'), not with the "Connection is closed." of a lost connection.
  if ('flushQueue' in client) {
    flush(client, new Error('The client is closed before a connection was ready'), {
      offlineQueue: true,
      commandQueue: false,
    })
  }
  // A node-redis client that is opening is destroyed once its attempt ends (destroyClient):
  // waited for, within QUIT_LIMIT too (a paused server may hold the attempt).
  const disconnected = Promise.resolve(client.disconnect())
  await withDeadline(disconnected, QUIT_LIMIT, () => new TimeoutError('disconnect did not end')).catch(
    () => undefined,
  )
}

/** Resolves when an opening ioredis connection is ready or gave up, or after QUIT_LIMIT. */
function settledAttempt(client: Redis | { status: string }): Promise<void> {
  if (!('once' in client)) return Promise.resolve()
  return firstEvent(client, ATTEMPT_ENDS, QUIT_LIMIT)
}

/** The events that end an ioredis connection's attempt: up, or down (it retries, or it is closed). */
const ATTEMPT_ENDS = ['ready', 'reconnecting', 'close', 'end'] as const

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
 * command's share of the write. A command past its deadline fails as ioredis would fail it,
 * unless it still waits in the offline queue (no connection was ready meanwhile): then it is
 * taken out, never to be written on a later connection, and fails as not sent. `ofCluster`: the
 * connection is a cluster's (a node's, or a user's Cluster), which sends a command again (handOver).
 */
export function timeCommands(connection: Redis | Cluster, timeout: number, ofCluster = false): void {
  if (timeout <= 0) return
  // A node connection's address; a Cluster (a user's, through its view) has none of its own.
  const { host, port } = (connection.options ?? {}) as { host?: string; port?: number }
  const node = port === undefined ? undefined : `${host}:${port}`
  const deadlines = new CommandDeadlines(timeout, (command) =>
    withdrawn(connection, command) ? notSentInTime(node) : timedOut(node, timeout),
  )
  const send = connection.sendCommand as (this: Redis, command: Named, ...rest: unknown[]) => unknown
  const timed = function (this: Redis, command: Named, ...rest: unknown[]) {
    // A connection's handshake (its ready check too) is bounded by limitHandshake (health.ts),
    // within connectTimeout: timed out here, ioredis would fail every command waiting for the
    // connection with "Command timed out" as it gives the attempt up, though none was sent.
    if (!isOwnHandshake(this.status, command.name)) {
      if (command.isSettled === undefined || sentByFive.has(command)) seeRejection(command)
      if (ofCluster) handOver(command, deadlines)
      deadlines.add(command, blocksFor(command.name, command.args, 0))
    }
    return send.call(this, command, ...rest)
  }
  ;(connection as unknown as { sendCommand: typeof timed }).sendCommand = timed
}

/** The deadlines a command of a cluster's node connections was last sent under (on the Command). */
const SENT_UNDER = Symbol('redfleet.sentUnder')

/**
 * A Cluster sends a command that met MOVED or ASK again, the same Command, on another node's
 * connection: the first node answered it, so its deadlines let it go. Kept there, it timed out
 * as that node's silence when the new node did not answer (helper-221's finding, on ioredis too).
 * The same holds for a command sent again under the same deadlines (a cluster pipeline's next
 * round after TRYAGAIN, through a user's Cluster's view): its first deadline failed it in the
 * middle of a later round, and ioredis' pipeline, counting that reply twice, never settled.
 * Kept on the Command, not in a WeakMap: one property store per command on the hot path.
 */
function handOver(command: Named, deadlines: CommandDeadlines): void {
  const marked = command as Named & { [SENT_UNDER]?: CommandDeadlines }
  marked[SENT_UNDER]?.handedOver(command)
  marked[SENT_UNDER] = deadlines
}

/** An ioredis Command, as timeCommands sees it. */
interface Named extends Timed {
  readonly name: string
  readonly args: readonly unknown[]
  readonly promise: Promise<unknown>
}

/**
 * ioredis 5 marks a command resolved, never rejected: one answered with an error reply looked
 * unanswered to its deadline, which then took the connection for one that does not answer
 * (CommandDeadlines' stall) and failed the WAITs behind it at their own deadlines (helper-194).
 * The rejection of the promise it is sent with marks it settled, as ioredis 6 does itself; sent
 * again with a new promise (a cluster pipeline after MOVED), it is unsettled again, or its
 * deadline would pass it by for settled (helper-195).
 */
function seeRejection(command: Named): void {
  sentByFive.add(command)
  const marked = command as { isSettled?: boolean }
  marked.isSettled = false
  const promise = command.promise
  promise.then(undefined, () => {
    if (command.promise === promise) marked.isSettled = true
  })
}

/** ioredis 5 commands seeRejection watches. */
const sentByFive = new WeakSet<object>()

/** ioredis' offline queue (a Denque, not in its typings): commands not written yet. */
interface OfflineQueue {
  readonly length: number
  peekAt(index: number): { command: unknown; stream?: { isPipeline?: boolean } } | undefined
  removeOne(index: number): unknown
}

/**
 * Takes `command` out of the connection's offline queue; false when it is not there (sent), or
 * when it belongs to a pipeline or transaction: ioredis writes a pipeline once all of its
 * commands are handed to the socket, so one taken out would leave the others unwritten, and
 * every later reply matched to the wrong command.
 */
function withdrawn(connection: Redis | Cluster, command: Timed): boolean {
  const queue = (connection as unknown as { offlineQueue?: OfflineQueue }).offlineQueue
  if (!queue) return false
  for (let i = 0; i < queue.length; i++) {
    const item = queue.peekAt(i)
    if (item?.command !== command) continue
    if (item.stream?.isPipeline === true) return false
    queue.removeOne(i)
    return true
  }
  return false
}
