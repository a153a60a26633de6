import { EventEmitter } from 'node:events'
import { ConnectionError } from '../errors.ts'
import { reconnectDelay } from '../topology/connection.ts'
import {
  COMMAND_OPTIONS,
  commandArgs,
  destroyClient,
  followAttempts,
  type NodeRedisClient,
} from './node-redis-client.ts'
import { holdWritesWhileLost } from './node-redis-lost-writes.ts'
import { NodeRedisPipeline } from './node-redis-pipeline.ts'
import type { CommandArg, DedicatedConnection } from './types.ts'

/**
 * A RESP2 connection, whatever the user's client speaks (node-redis 6 speaks RESP3 by default):
 * Redis sends CLIENT TRACKING's redirected invalidations as `__redis__:invalidate` messages only
 * to a RESP2 connection in pub/sub mode, and node-redis hands them to a buffer-mode listener as
 * they came (the array of keys, or null for FLUSHALL). To a RESP3 connection they are
 * `invalidate` push frames, which node-redis drops unless the client was made for its own
 * client-side cache. The options that node-redis allows on RESP3 only are turned off.
 */
const RESP2 = Object.freeze({
  RESP: 2,
  clientSideCache: undefined,
  emitInvalidate: undefined,
  maintNotifications: 'disabled',
})

/**
 * A node-redis client of redfleet's own as a DedicatedConnection: node-redis' events in the
 * words redfleet's subscribers and blocking reads listen for. Its commands have no timeout
 * (blocking reads wait as long as they asked to).
 *
 * It is made from `template`, a `duplicate()` of the user's client that is never connected
 * itself, when it first opens, so that the `options` its user set before apply:
 * - `protocol: 2`: the connection speaks RESP2 (see RESP2 above);
 * - `autoResubscribe: false`: each connection starts with no subscription. node-redis
 *   re-subscribes by itself, before anything else, on the same client's reconnect, and a
 *   subscribed RESP2 connection then refuses the CLIENT ID the subscriber sends first (the
 *   near cache redirects tracking to that id). So every connection is a new client that
 *   node-redis does not reconnect; this class reconnects with `options.retryStrategy`.
 * Otherwise node-redis reconnects the one client by itself and re-subscribes what it holds.
 */
export class NodeRedisDedicated extends EventEmitter implements DedicatedConnection {
  readonly #template: NodeRedisClient
  /**
   * ioredis' settings, read when the connection first opens. The retry strategy (attempt →
   * delay in ms) says that this connection reconnects by itself: an 'end' is a close on
   * purpose, not a lost node (see watchConnection).
   */
  readonly options: DedicatedConnection['options'] = { retryStrategy: reconnectDelay }
  #client: NodeRedisClient | undefined
  /** One client per connection (see the class comment), decided on the first open. */
  #oneClientEach = false
  #attempts = 0
  #retry: NodeJS.Timeout | undefined
  #status = 'wait'
  /** Per client, the last (un)subscribe of each channel until it is answered (see #inTurn). */
  readonly #turns = new WeakMap<NodeRedisClient, Map<string, Promise<void>>>()

  constructor(template: NodeRedisClient) {
    super()
    this.#template = template
  }

  get status(): string {
    return this.#status
  }

  async connect(): Promise<void> {
    if (this.#status !== 'wait') return
    this.#status = 'connecting'
    this.#oneClientEach = this.options.autoResubscribe === false
    await this.#open()
  }

  /** Makes the client of the next connection and connects it. */
  #open(): Promise<void> {
    const overrides: Record<string, unknown> = {
      ...(this.options.protocol === 2 ? RESP2 : {}),
      // The first command opens the connection and waits for it: a user's client made with
      // `disableOfflineQueue` refused it at once, every time (helper-295: no loop read an entry).
      disableOfflineQueue: false,
    }
    if (this.#oneClientEach) {
      const socket = this.#template.options?.socket
      // Called where node-redis would reconnect: this client is done, the next one is ours.
      overrides.socket = {
        ...socket,
        reconnectStrategy: (_attempt: number, cause: unknown) => this.#dropped(client, cause),
      }
    }
    const client = this.#template.duplicate(overrides)
    this.#client = client
    followAttempts(client)
    holdWritesWhileLost(client)
    this.watch(client)
    client.on('ready', () => {
      // Closed on purpose while connecting: it stays closed.
      if (client !== this.#client || this.#status === 'end') return
      this.#attempts = 0
      this.#status = 'ready'
      this.emit('ready')
    })
    client.on('error', (error: unknown) => {
      if (client === this.#client) this.emit('error', error)
    })
    // A lost connection or a failed attempt: node-redis tries again (ioredis' 'close').
    client.on('reconnecting', () => {
      if (client !== this.#client || this.#status === 'end') return
      this.#status = 'reconnecting'
      this.emit('close')
    })
    client.on('end', () => {
      if (client !== this.#client) return
      this.#status = 'end'
      this.emit('close')
    })
    return client.connect().then(
      () => undefined,
      (error: unknown) => {
        // One client each: a failed first attempt is retried like a lost connection. Otherwise
        // node-redis retried by itself until its reconnectStrategy gave up: it stays closed.
        if (this.#oneClientEach) this.#dropped(client)
        throw error
      },
    )
  }

  /** Each new client of this connection, before it connects: a subclass listens to it here. */
  protected watch(_client: NodeRedisClient): void {}

  /** A client of its own connection lost it or failed to open it: a new one follows. */
  #dropped(client: NodeRedisClient, cause?: unknown): false {
    if (client !== this.#client || this.#status === 'end') return false
    this.#client = undefined
    // A failed attempt is told as ioredis tells it, 'error' then 'close' (node-redis emits its
    // error after asking this strategy); a lost connection's error came before.
    if (cause !== undefined && this.#status !== 'ready') this.emit('error', cause)
    const { retryStrategy } = this.options
    const strategy = typeof retryStrategy === 'function' ? retryStrategy : reconnectDelay
    const delay = strategy(++this.#attempts)
    // As ioredis: a strategy that gives no delay stops reconnecting.
    this.#status = typeof delay === 'number' ? 'reconnecting' : 'end'
    this.emit('close')
    if (typeof delay !== 'number') return false
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      if (this.#status !== 'end') this.#open().catch(() => undefined)
    }, delay)
    return false
  }

  ping(): Promise<unknown> {
    return this.call('PING')
  }

  call(command: string, ...args: CommandArg[]): Promise<unknown> {
    return this.#send(commandArgs(command, args))
  }

  /**
   * Sends a command; a connection never opened is opened first (as ioredis' lazyConnect does),
   * since node-redis fails every command of a client that is not open.
   */
  readonly #send = (args: (string | Buffer)[]): Promise<unknown> => {
    if (this.#status === 'wait') this.connect().catch(() => undefined)
    const client = this.#client
    if (!client) return Promise.reject(notConnected())
    return client.sendCommand(args, COMMAND_OPTIONS)
  }

  pipeline(): NodeRedisPipeline {
    return new NodeRedisPipeline(this.#send)
  }

  readonly #message = (message: Buffer, channel: Buffer) => this.emit('messageBuffer', channel, message)
  readonly #shardMessage = (message: Buffer, channel: Buffer) => this.emit('smessageBuffer', channel, message)

  subscribe(...channels: string[]): Promise<unknown> {
    return this.#inTurn('plain', channels, (client) => client.subscribe(channels, this.#message, true))
  }

  unsubscribe(...channels: string[]): Promise<unknown> {
    return this.#inTurn('plain', channels, (client) => client.unsubscribe(channels, this.#message, true))
  }

  ssubscribe(...channels: string[]): Promise<unknown> {
    return this.#inTurn('sharded', channels, (client) =>
      client.sSubscribe(channels, this.#shardMessage, true),
    )
  }

  sunsubscribe(...channels: string[]): Promise<unknown> {
    return this.#inTurn('sharded', channels, (client) =>
      client.sUnsubscribe(channels, this.#shardMessage, true),
    )
  }

  /**
   * Sends an (un)subscribe on the current client once the last one of the same channels on it
   * has been answered. node-redis decides from its own listener sets whether to send a command
   * at all, and updates them only when the command is answered: an UNSUBSCRIBE sent before its
   * channel's SUBSCRIBE was answered left the channel subscribed to a listener set it later
   * emptied, and a SUBSCRIBE behind an UNSUBSCRIBE of its channel was not sent (the set was
   * still there), so the channel ended unsubscribed while redfleet held it confirmed
   * (helper-259). One at a time per channel, node-redis reads its sets right.
   */
  #inTurn(
    kind: 'plain' | 'sharded',
    channels: readonly string[],
    send: (client: NodeRedisClient) => Promise<unknown>,
  ): Promise<unknown> {
    const client = this.#client
    if (!client) return Promise.reject(notConnected())
    let turns = this.#turns.get(client)
    if (!turns) {
      turns = new Map()
      this.#turns.set(client, turns)
    }
    const keys = channels.map((channel) => `${kind}:${channel}`)
    const before = keys.flatMap((key) => turns.get(key) ?? [])
    const sent = before.length === 0 ? send(client) : Promise.all(before).then(() => send(client))
    const answered = sent.then(
      () => undefined,
      () => undefined,
    )
    for (const key of keys) turns.set(key, answered)
    void answered.then(() => {
      for (const key of keys) if (turns.get(key) === answered) turns.delete(key)
    })
    return sent
  }

  async quit(): Promise<unknown> {
    this.#status = 'end'
    clearTimeout(this.#retry)
    const client = this.#client
    if (!client?.isOpen) return
    return client.close()
  }

  disconnect(): void {
    this.#status = 'end'
    clearTimeout(this.#retry)
    if (this.#client) void destroyClient(this.#client)
  }
}

/** A command between two connections of their own clients: there is nothing to queue it on. */
function notConnected(): ConnectionError {
  return new ConnectionError('no connection to Redis: the dedicated connection is reconnecting', {
    outcome: 'not-applied',
  })
}
