import type { Redis } from 'ioredis'
import { withDeadline } from '../deadline.ts'
import {
  ClosedError,
  type ConfigError,
  ConnectionError,
  messageOf,
  NodeDownError,
  notRedisReason,
  RedfleetError,
  UNSENT,
} from '../errors.ts'
import { processClock } from '../transport/deadlines.ts'
import { type ListenedTo, listenShared } from '../transport/shared-listeners.ts'
import type { ConnectionEvents } from '../transport/types.ts'
import { invalidOption } from '../validate.ts'

/** What ioredis sends itself while a connection is not ready yet (its HANDSHAKE_COMMANDS). */
const HANDSHAKE_COMMANDS: ReadonlySet<string> = new Set([
  'auth',
  'hello',
  'select',
  'client',
  'readonly',
  'info',
])

/** A command of the handshake of an ioredis connection in `status`, sent by ioredis itself. */
export function isOwnHandshake(status: string, command: string): boolean {
  return status === 'connect' && HANDSHAKE_COMMANDS.has(command)
}

/** A caller of NodeHealth.nextReady, settled by the node's next change. */
interface ReadyWaiter {
  readonly command: string
  resolve(): void
  reject(error: Error): void
}

/** At most one probe of a down node per this many ms (the longest reconnect delay). */
export const PROBE_INTERVAL = 250

/** Where a node's state changes are announced: once per change, never once per call. */
export type HealthSink = (error: unknown, context: { op: string }) => void

/**
 * What redfleet knows of one node (SPEC §8): up, or known to be down because its last
 * connection attempts failed. While it is down, calls routed to it fail at once with
 * NodeDownError instead of each waiting for a reconnect; the connections keep reconnecting in
 * the background (one probe per reconnect interval), and the first one that succeeds brings the
 * node back. A change to 'down' is reported once to the sink, whatever the number of calls and
 * connections that saw it.
 */
export class NodeHealth {
  readonly node: string
  /** How messages name it: "Redis at host:port", or "the Redis Cluster at seeds". */
  readonly #label: string
  readonly #sink: HealthSink
  #cause: unknown
  #down = false
  /** Connection attempts (and losses) in a row without a ready connection, over all connections. */
  #failures = 0
  /** How many times a connection to it became ready: an attempt older than the last says nothing now. */
  #readies = 0
  /** When the last probe went (processClock): a step of the wall clock back held probes off as long. */
  #lastProbe = Number.NEGATIVE_INFINITY
  /** The topology is closing: its own disconnects are not failures. */
  #stopped = false
  readonly #listeners = new Set<(down: boolean) => void>()
  /** Who waits for the next ready connection (nextReady). */
  readonly #readyWaiters = new Set<ReadyWaiter>()

  constructor(node: string, sink: HealthSink, label = `Redis at ${node}`) {
    this.node = node
    this.#sink = sink
    this.#label = label
  }

  get down(): boolean {
    return this.#down
  }

  /** The last connection failure, in words a user can act on. */
  get reason(): string {
    return describeFailure(this.#cause, this.node)
  }

  /** The last connection failure if one is known, else `error` (ioredis' "Connection is closed."). */
  reasonOr(error: unknown): string {
    return describeFailure(this.#cause ?? error, this.node)
  }

  /** A connection reported `cause` (an error event; the attempt ends with a close). */
  noteFailure(cause: unknown): void {
    this.#cause = cause
  }

  /** A connection attempt ended without a ready connection (or one was lost): how many in a row. */
  attemptFailed(): number {
    this.#cause ??= new Error('connection lost')
    return ++this.#failures
  }

  /** True at most once per reconnect interval while down: a new connection may probe the node. */
  probeDue(now = processClock.now()): boolean {
    if (now - this.#lastProbe < PROBE_INTERVAL) return false
    this.#lastProbe = now
    return true
  }

  /**
   * The node is known to be down now: announced once (with `announcement` if given), and calls
   * to it fail at once.
   */
  markDown(cause?: unknown, announcement?: Error): void {
    if (cause !== undefined) this.#cause = cause
    if (this.#down || this.#stopped) return
    this.#down = true
    this.#settleReadyWaiters(true)
    const op = `connection ${this.node}`
    try {
      this.#sink(
        announcement ??
          new ConnectionError(
            `${this.#label} is down (${this.reason}): calls to it fail at once until a ` +
              'reconnect succeeds; redfleet tries again in the background',
            { cause: this.#cause, outcome: 'not-applied' },
          ),
        { op },
      )
    } catch {
      // A throwing sink must not take the connection down with it.
    }
    this.#emit()
  }

  /** How many times a connection to the node became ready (see watchConnection's stale attempts). */
  get readies(): number {
    return this.#readies
  }

  /** A connection to the node is ready again. */
  markUp(): void {
    this.#readies++
    this.#cause = undefined
    this.#failures = 0
    this.#settleReadyWaiters()
    if (!this.#down) return
    this.#down = false
    this.#emit()
  }

  /** The error a call routed to this node fails with while it is down. */
  refusal(command: string): NodeDownError {
    return new NodeDownError(`${command} not sent: ${this.#label} is down (${this.reason})`, this.node, {
      cause: this.#cause,
    })
  }

  /** The topology closes: nothing more is announced, and its own disconnects are not failures. */
  stop(): void {
    this.#stopped = true
    for (const waiter of this.#readyWaiters) {
      waiter.reject(
        new ClosedError(`${waiter.command} not sent: the fleet closed before ${this.#label} was ready`),
      )
    }
    this.#readyWaiters.clear()
  }

  /**
   * Settles at the node's next ready connection, or rejects with the refusal when the node goes
   * down (or with ClosedError when the topology closes) first: for the caller of a connection that
   * is open and not ready yet (see NodeRedisConnection.connect).
   */
  nextReady(command: string, within: number): Promise<void> {
    if (this.#down) return Promise.reject(this.refusal(command))
    if (this.#stopped) return Promise.reject(new ClosedError(`${command} not sent: the fleet is closed`))
    let waiter!: ReadyWaiter
    const ready = new Promise<void>((resolve, reject) => {
      waiter = { command, resolve, reject }
    })
    this.#readyWaiters.add(waiter)
    // A server that accepts and never answers gives no event at all: the wait has its limit.
    return withDeadline(ready, within, () => {
      this.#readyWaiters.delete(waiter)
      return new ConnectionError(
        `${command} not sent: ${this.#label} was not ready within connectTimeout + commandTimeout (${within} ms)`,
        { outcome: 'not-applied' },
      )
    })
  }

  #settleReadyWaiters(down = false): void {
    if (this.#readyWaiters.size === 0) return
    for (const waiter of this.#readyWaiters) {
      if (down) waiter.reject(this.refusal(waiter.command))
      else waiter.resolve()
    }
    this.#readyWaiters.clear()
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /** The refusal while the node is down, else undefined. */
  refusalIfDown(command: string): NodeDownError | undefined {
    return this.#down ? this.refusal(command) : undefined
  }

  /** Called with `true` when the node goes down and `false` when it is back. */
  onChange(listener: (down: boolean) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #emit(): void {
    for (const listener of [...this.#listeners]) listener(this.#down)
  }
}

/** The health of every node of one topology, by node id (`host:port` or `host:port/db`). */
export class HealthRegistry {
  readonly #nodes = new Map<string, NodeHealth>()
  readonly #sink: HealthSink

  constructor(sink: HealthSink) {
    this.#sink = sink
  }

  of(node: string): NodeHealth {
    let health = this.#nodes.get(node)
    if (!health) {
      health = new NodeHealth(node, this.#sink)
      if (this.#stopped) health.stop()
      this.#nodes.set(node, health)
    }
    return health
  }

  #stopped = false

  /** The topology closes (see NodeHealth.stop). */
  stop(): void {
    this.#stopped = true
    for (const health of this.#nodes.values()) health.stop()
  }
}

/** A connection failure in words: "connection refused (ECONNREFUSED 127.0.0.1:6379)". */
export function describeFailure(cause: unknown, node: string): string {
  // Already in redfleet's words (a db the server does not have).
  if (cause instanceof RedfleetError) return cause.message
  const notRedis = notRedisReason(cause)
  if (notRedis) return notRedis
  const { code, address, port } = (cause ?? {}) as { code?: unknown; address?: unknown; port?: unknown }
  if (typeof address === 'string' && typeof port === 'number') node = `${address}:${port}`
  if (code === 'ECONNREFUSED') return `connection refused (ECONNREFUSED ${node})`
  if (code === 'ETIMEDOUT') return `no answer within connectTimeout (ETIMEDOUT ${node})`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${String(code)} ${node})`
  if (typeof code === 'string') return `${code} ${node}`
  if (cause instanceof Error) return cause.message
  return cause === undefined ? 'unreachable' : String(cause)
}

/**
 * Watches one command connection of a node: a connection attempt that fails (or a connection
 * that is lost) more than `reconnectAttempts` times in a row makes the node known to be down,
 * and what waits in the offline queue is failed with NodeDownError (it was never sent). Commands
 * sent before a drop are failed at once with the client's "connection closed" error: whether
 * Redis applied them is unknown, and ioredis would otherwise keep them until a timeout.
 */
export function watchConnection(
  client: Redis,
  health: NodeHealth,
  reconnectAttempts: number,
  failFast?: boolean,
  discarded?: () => boolean,
): () => void
/**
 * Other connections only tell the node's health what they see: dedicated ones (of any client
 * library), and a node-redis client's events (NodeRedisEvents), whose commands are refused while
 * the node is down by NodeRedisConnection itself.
 */
export function watchConnection(
  client: ConnectionEvents,
  health: NodeHealth,
  reconnectAttempts: number,
  failFast: false,
  discarded?: () => boolean,
  lossCounts?: boolean,
): () => void
export function watchConnection(
  client: Redis | ConnectionEvents,
  health: NodeHealth,
  reconnectAttempts: number,
  failFast = true,
  discarded: () => boolean = () => false,
  lossCounts = true,
): () => void {
  // What it stops listening to, so that a user's client can be let go of (the returned function).
  // Shared: a user's client may be given to many fleets.
  const listening: (() => void)[] = []
  const listen = (event: 'connect' | 'ready' | 'close' | 'error', listener: (...args: never[]) => void) => {
    listening.push(listenShared(client as ListenedTo, event, listener))
  }
  // A close counts as a failure when the connection was up (it is lost) or an attempt erred;
  // not when a connection that never connected is dropped (a cluster discarding a node client).
  // A connection that reconnects by itself and closes between its connect and its ready (a
  // server that accepts and hangs up, a proxy in front of a dead Redis) failed its attempt too.
  let failed = false
  let up = false
  let handshaking = false
  if (reconnectsByItself(client)) {
    listen('connect', () => {
      handshaking = true
    })
  }
  let lastError: unknown
  /** The node's readies when this connection last closed or became ready. */
  let readiesSeen = health.readies
  listen('error', (error: unknown) => {
    // The echo of the close below failing what was sent (a handshake's ready check gives it up
    // with an error event, after the close): the attempt's own cause stands.
    if (closedUnderCommands.has(error as Error)) return
    failed = true
    lastError = error
    if (isSelectRefusal(error)) {
      health.noteFailure(noSuchDb(error))
      // ioredis carries on after a failed SELECT, and would run every command in db 0: this
      // attempt fails instead (each one does, so the node is down, with this reason, until the
      // server has the db). Once for the attempt, however many fleets follow the client: each
      // disconnect adds a listener to the socket.
      if ('disconnect' in client && !disconnectedFor.has(error as object)) {
        disconnectedFor.add(error as object)
        client.disconnect(true)
      }
      return
    }
    health.noteFailure(error)
  })
  listen('ready', () => {
    failed = false
    up = true
    handshaking = false
    health.markUp()
    readiesSeen = health.readies
  })
  listen('close', () => {
    const reason = handshaking ? handshakeFailure(failed, lastError) : undefined
    // A lost connection (its error, node-redis' "Socket closed unexpectedly", included) counts
    // when `lossCounts`; a failed attempt always does.
    const counts = up ? lossCounts : failed || handshaking
    // A failed attempt of a connection that has not been up since another one found the node
    // up may have begun before the node was back (a reconnect in flight through a restart): it
    // says nothing of the node now, and counted, two such would take a node that is up down.
    const stale = !up && health.readies !== readiesSeen
    readiesSeen = health.readies
    failed = false
    up = false
    handshaking = false
    lastError = undefined
    if (health.stopped || !counts || stale) return
    // Closed on purpose: a client that reconnects by itself only ends when told to, and one its
    // owner let go of (`discarded`) was told to.
    if (client.status === 'end' && (reconnectsByItself(client) || discarded())) return
    if (reason) health.noteFailure(reason)
    const down = health.attemptFailed() > reconnectAttempts
    if (down) health.markDown()
    if (!failFast) return
    // Failing fast is for ioredis command connections only (see the overloads).
    const closed = new Error('Connection is closed.')
    closedUnderCommands.add(closed)
    flush(client as Redis, closed, { offlineQueue: false, commandQueue: true })
    if (down) flush(client as Redis, health.refusal('command'), { offlineQueue: true, commandQueue: false })
  })
  if (failFast) refuseWhileDown(client as Redis, health, (command) => failsUnsent(command, health))
  return () => {
    for (const stop of listening) stop()
  }
}

/**
 * A dedicated connection (blocking reads, subscriptions) of a node only tells its health what it
 * sees, and not the loss of a connection that was up: Redis closes its blocked clients'
 * connections when a master turns replica (CLUSTER FAILOVER) and stays up, and a node that did go
 * down is seen by its command connection too. Its failed reconnect attempts count.
 */
export function watchDedicated(
  client: ConnectionEvents,
  health: NodeHealth,
  reconnectAttempts: number,
): void {
  watchConnection(client, health, reconnectAttempts, false, undefined, false)
}

/** The refused SELECTs whose attempt watchConnection has ended (by one fleet for all of them). */
const disconnectedFor = new WeakSet<object>()

/** What watchConnection fails the commands sent on a connection that closed with (ioredis' words). */
const closedUnderCommands = new WeakSet<Error>()

/** The socket errors of writing to, or reading from, a connection the server closed. */
function isHangUp(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown }
  return code === 'EPIPE' || code === 'ECONNRESET'
}

/**
 * Why an attempt that connected ended before it was ready, in redfleet's words where the client's
 * would puzzle ("EPIPE"); undefined to keep the attempt's own error.
 */
function handshakeFailure(failed: boolean, error: unknown): Error | undefined {
  if (!failed) return new Error(`the server closed the connection before it was ready${WHY_HUNG_UP}`)
  if (isHangUp(error)) {
    const { code } = error as { code: string }
    return new Error(`the server closed the connection before it was ready (${code})${WHY_HUNG_UP}`, {
      cause: error,
    })
  }
  return undefined
}

/**
 * Why Redis hangs up on a new connection: its reply saying so (`-ERR max number of clients
 * reached`) is lost to the client's EPIPE, which alone sends an operator looking for a network
 * fault (helper-307).
 */
const WHY_HUNG_UP =
  ': Redis does so at once when it has maxclients connections (its INFO stats counts rejected_connections), refuses the address (protected mode) or expects TLS'

function reconnectsByItself(client: Redis | ConnectionEvents): boolean {
  return typeof client.options.retryStrategy === 'function'
}

/**
 * ioredis' connectTimeout ends at the TCP connect: a server that accepts the connection and never
 * finishes its handshake (a stopped process, a proxy with nothing behind it, one that answers
 * the SELECT and then nothing) would hold every attempt open for ever, each call waiting out its
 * commandTimeout and the node never known to be down. An attempt of `client` (watched by
 * watchConnection) not ready within `connectTimeout` of its connect is ended and counts as
 * failed, so such a node goes down as a refusing one does. A Redis loading its data answers the
 * ready check with loading:1 until it is done: it is down meanwhile too (calls fail at once
 * rather than each waiting), and the first attempt after the load succeeds.
 */
export function limitHandshake(client: Redis, connectTimeout: number): void {
  let timer: NodeJS.Timeout | undefined
  const clear = () => clearTimeout(timer)
  client.on('connect', () => {
    clear()
    const socket = client.stream
    timer = setTimeout(() => {
      if (client.status !== 'connect' || client.stream !== socket) return
      // As ioredis ends its own connect timeout: an error, then the socket destroyed (a
      // disconnect would wait for the silent server to close it, up to its disconnectTimeout).
      const within = `within connectTimeout (${connectTimeout} ms)`
      const why =
        socket.bytesRead === 0
          ? `no answer to the handshake ${within}`
          : `the handshake did not finish ${within}: the server answered part of it (is it loading its data?)`
      client.emit('error', new Error(why))
      socket.destroy()
    }, connectTimeout)
    timer.unref()
  })
  client.on('ready', clear)
  client.on('close', clear)
}

/**
 * The server refused the SELECT of the url's db (a db it does not have): ioredis names the
 * command; node-redis' handshake fails with the bare reply, which only SELECT gives.
 */
function isSelectRefusal(error: unknown): boolean {
  if ((error as { command?: { name?: unknown } } | undefined)?.command?.name === 'select') return true
  return error instanceof Error && /^ERR DB index is out of range/.test(error.message)
}

function noSuchDb(error: unknown): ConfigError {
  const reason = messageOf(error)
  return invalidOption(
    `the server has no such db as the url names (SELECT: ${reason}; see its \`databases\` setting)`,
  )
}

type QueueFlush = (error: Error, options: { offlineQueue: boolean; commandQueue: boolean }) => void

/** ioredis' own queue flush (not in its typings): rejects the queued commands with `error`. */
export function flush(client: Redis, error: Error, options: Parameters<QueueFlush>[1]): void {
  ;(client as unknown as { flushQueue: QueueFlush }).flushQueue(error, options)
}

/**
 * A command queued until its connection is ready. ioredis fails what it queued, when the attempt
 * ends the connection (a cluster's node connections never reconnect), with the "Connection is
 * closed." of a connection lost under sent commands. If no connection to the node became ready
 * since, it was never written: it fails as not sent ('not-applied'), naming the node and why.
 */
function failsUnsent(command: SentCommand, health: NodeHealth): void {
  const readies = health.readies
  const reject = command.reject
  command.reject = (error: Error) => {
    if (health.readies !== readies || error.message !== CONNECTION_CLOSED) return reject(error)
    const why = `${UNSENT} to Redis at ${health.node}, which is unreachable (${health.reasonOr(error)})`
    reject(new Error(why, { cause: error }))
  }
}

/** The command ioredis queued last until its connection is ready (its offline queue's last). */
function lastQueued(client: object): unknown {
  const queue = (client as { offlineQueue?: { peekBack(): { command: unknown } | undefined } }).offlineQueue
  return queue?.peekBack()?.command
}

/** How ioredis fails the commands of a connection that closed (or never opened). */
const CONNECTION_CLOSED = 'Connection is closed.'

interface SentCommand {
  readonly name: string
  reject: (error: Error) => void
  readonly promise: Promise<unknown>
}

/**
 * Makes a client refuse commands at once while `refusal` names a reason and the connection is
 * not ready. Every command of every kind goes through `sendCommand` (single commands, each
 * command of a pipeline, scripts), so this one hook covers them all without a wrapper per call.
 */
export function refuseWhileDown(
  client: { sendCommand(command: never, ...rest: never[]): unknown; readonly status: string },
  health: Pick<NodeHealth, 'probeDue'> & { refusalIfDown(command: string): Error | undefined },
  queued?: (command: SentCommand) => void,
): void {
  const send = client.sendCommand as (this: unknown, command: SentCommand, ...rest: unknown[]) => unknown
  const patched = function (this: typeof client, command: SentCommand, ...rest: unknown[]) {
    // 'connect': the socket is up and the client is sending its own handshake (INFO, SELECT),
    // which goes through; a caller's command would wait for the attempt to end.
    if (this.status !== 'ready' && !isOwnHandshake(this.status, command.name)) {
      const error = health.refusalIfDown(command.name.toUpperCase())
      if (error) {
        // A connection never opened (a cluster makes a new one per node after a loss) is opened
        // now and then: it is the probe that finds the node again.
        if (this.status === 'wait' && health.probeDue()) {
          ;(this as unknown as Redis).connect().catch(() => undefined)
        }
        command.reject(error)
        return command.promise
      }
      const sent = send.call(this, command, ...rest)
      // Only a command ioredis queued: ioredis 5 writes some during the handshake (PUBLISH).
      if (queued && lastQueued(this) === command) queued(command)
      return sent
    }
    return send.call(this, command, ...rest)
  }
  ;(client as unknown as { sendCommand: typeof patched }).sendCommand = patched
}
