import { firstEvent } from '../deadline.ts'
import { ConnectionError } from '../errors.ts'
import { type ConnectionSettings, closeClient, QUIT_LIMIT } from '../topology/connection.ts'
import { blocksFor, CommandDeadlines, lostUnwritten, timedOut } from './deadlines.ts'
import {
  addressOf,
  COMMAND_OPTIONS,
  commandArgs,
  destroyClient,
  type NodeRedisClient,
} from './node-redis-client.ts'
import { NodeRedisDedicated } from './node-redis-dedicated.ts'
import { type NodeDown, OfflineCommands } from './node-redis-offline.ts'
import { NodeRedisPipeline, type Send } from './node-redis-pipeline.ts'
import type { CommandArg, CommandConnection, Connectable } from './types.ts'

/**
 * The deadlines of one connection's commands; none for commandTimeout 0. A command past its
 * deadline got no reply: Redis may have applied it. With the connection ready that is a
 * timeout; without, the connection dropped before the command was written (node-redis fails
 * what was written at once when a connection drops) and node-redis keeps it for its next
 * connection: a lost connection, outcome unknown all the same (lostUnwritten). Only a command
 * withdrawn from the client's queue (withdrawable: its node known down, close) is not sent.
 */
export function connectionDeadlines(
  commandTimeout: number,
  isReady: () => boolean,
  node: () => string | undefined,
): CommandDeadlines | undefined {
  if (commandTimeout <= 0) return undefined
  return new CommandDeadlines(commandTimeout, () =>
    isReady() ? timedOut(node(), commandTimeout) : lostUnwritten(),
  )
}

/** `sent`, timed out by `deadlines` (a WAIT with its own timeout on top: blocksFor). */
export function timedSend(
  deadlines: CommandDeadlines | undefined,
  sent: Promise<unknown>,
  args: readonly unknown[],
): Promise<unknown> {
  return deadlines ? deadlines.track(sent, blocksFor(String(args[0]), args, 1)) : sent
}

/**
 * The commands of a redfleet command connection over one `send`: a node-redis client's own, or
 * (src/topology/node-redis-cluster.ts) a route to the master of one cluster slot.
 */
export class NodeRedisCommands implements CommandConnection {
  readonly send: Send

  constructor(send: Send) {
    this.send = send
  }

  call(command: string, ...args: CommandArg[]): Promise<unknown> {
    return this.send(commandArgs(command, args))
  }

  get(key: string): Promise<string | null> {
    return this.send(['GET', key]) as Promise<string | null>
  }

  mget(...keys: string[]): Promise<(string | null)[]> {
    return this.send(['MGET', ...keys]) as Promise<(string | null)[]>
  }

  set(key: string, value: string): Promise<'OK'>
  set(key: string, value: string, nx: 'NX'): Promise<'OK' | null>
  set(key: string, value: string, px: 'PX', ttl: number): Promise<'OK'>
  set(key: string, value: string, px: 'PX', ttl: number, nx: 'NX'): Promise<'OK' | null>
  set(key: string, value: string, ...options: (string | number)[]): Promise<'OK' | null> {
    if (options.length === 0) return this.send(['SET', key, value]) as Promise<'OK'>
    return this.call('SET', key, value, ...options) as Promise<'OK' | null>
  }

  incr(key: string): Promise<number> {
    return this.send(['INCR', key]) as Promise<number>
  }

  incrby(key: string, by: number): Promise<number> {
    return this.send(['INCRBY', key, String(by)]) as Promise<number>
  }

  incrbyfloat(key: string, by: number): Promise<string> {
    return this.send(['INCRBYFLOAT', key, String(by)]) as Promise<string>
  }

  unlink(...keys: string[]): Promise<number> {
    return this.send(['UNLINK', ...keys]) as Promise<number>
  }

  exists(...keys: string[]): Promise<number> {
    return this.send(['EXISTS', ...keys]) as Promise<number>
  }

  eval(script: string, numKeys: number, ...keysAndArgs: CommandArg[]): Promise<unknown> {
    return this.call('EVAL', script, numKeys, ...keysAndArgs)
  }

  evalsha(sha: string, numKeys: number, ...keysAndArgs: CommandArg[]): Promise<unknown> {
    return this.call('EVALSHA', sha, numKeys, ...keysAndArgs)
  }

  publish(channel: string, message: string | Buffer): Promise<unknown> {
    return this.send(['PUBLISH', channel, message])
  }

  spublish(channel: string, message: string | Buffer): Promise<unknown> {
    return this.send(['SPUBLISH', channel, message])
  }

  hdel(key: string, field: string): Promise<number> {
    return this.send(['HDEL', key, field]) as Promise<number>
  }

  zrem(key: string, member: string): Promise<number> {
    return this.send(['ZREM', key, member]) as Promise<number>
  }

  xlen(key: string): Promise<number> {
    return this.send(['XLEN', key]) as Promise<number>
  }

  xinfo(subcommand: string, ...args: string[]): Promise<unknown> {
    return this.send(['XINFO', subcommand, ...args])
  }

  scan(cursor: string, ...options: ['MATCH', string, 'COUNT', number]): Promise<[string, string[]]> {
    return this.call('SCAN', cursor, ...options) as Promise<[string, string[]]>
  }

  ping(): Promise<string> {
    return this.send(['PING']) as Promise<string>
  }

  info(...sections: string[]): Promise<string> {
    return this.send(['INFO', ...sections]) as Promise<string>
  }

  pipeline(): NodeRedisPipeline {
    return new NodeRedisPipeline(this.send)
  }
}

/**
 * How a client's commands are sent: each timed out by `commandTimeout` (connectionDeadlines),
 * refused at once while its node is known to be down, and withdrawn from the client's offline
 * queue when the node goes down (OfflineCommands). A refused command is not timed: it is settled
 * already.
 */
function clientSend(
  client: NodeRedisClient,
  deadlines: CommandDeadlines | undefined,
  offline: OfflineCommands,
): Send {
  return (args) => {
    // Ready, or closed (the client then fails the command itself: "The client is closed").
    if (client.isReady || !client.isOpen)
      return timedSend(deadlines, client.sendCommand(args, COMMAND_OPTIONS), args)
    const refusal = offline.refusal(args)
    return refusal ? Promise.reject(refusal) : timedSend(deadlines, offline.send(args), args)
  }
}

/** The events that end a node-redis client's connection attempt: up, or failed. */
const ATTEMPT_ENDS = ['ready', 'error', 'end'] as const

/** The fleet's timeouts a connection goes by. */
type Timeouts = Pick<ConnectionSettings, 'commandTimeout' | 'connectTimeout'>

/**
 * A node-redis client as a redfleet command connection (standalone, or one cluster master's node
 * client). The client is the user's: redfleet connects it if it is not open yet (its commands would
 * fail at once otherwise) and never closes it. Its commands are sent as clientSend says.
 */
export class NodeRedisConnection extends NodeRedisCommands implements Connectable {
  readonly #client: NodeRedisClient
  readonly #health: NodeDown
  /** How long whenReady waits: as long as a command that connects may take. */
  readonly #readyLimit: number
  readonly #offline: OfflineCommands
  /** Seen ready (see status). */
  #wasReady: boolean
  /** The server it talks to, and its node id (`host:port/db`). */
  readonly address: { url: string; id: string }

  /**
   * `owner`: whose its commands are in the client's queue (see OfflineCommands); itself by default.
   * `deadlines`: the client's connection's, when others send on it too (a cluster's slot routes).
   */
  constructor(
    client: NodeRedisClient,
    timeouts: Timeouts,
    health: NodeDown,
    owner?: object,
    deadlines = connectionDeadlines(
      timeouts.commandTimeout,
      () => client.isReady,
      () => addressOf(client).id,
    ),
  ) {
    const address = addressOf(client)
    const offline = new OfflineCommands(client, health, owner)
    super(clientSend(client, deadlines, offline))
    this.#client = client
    this.#health = health
    this.#readyLimit = timeouts.connectTimeout + timeouts.commandTimeout
    this.#offline = offline
    this.#wasReady = client.isReady
    this.address = address
  }

  get status(): string {
    if (this.#client.isReady) {
      this.#wasReady = true
      return 'ready'
    }
    if (this.#client.isOpen) return 'connecting'
    // Closed after it was ready: by its owner (`close()`, `destroy()`, a `reconnectStrategy` that
    // gave up; redfleet closes its own only as the fleet closes), so it stays closed. One that
    // was never ready (not connected yet, or its first attempts gave up) is opened (connect).
    return this.#wasReady ? 'end' : 'wait'
  }

  /** Connecting a client its owner closed (status 'end') fails: it is not reopened. */
  #refuseIfClosed(): void {
    if (this.status !== 'end') return
    const message = `The client is closed: the node-redis client of ${this.address.id} was closed after it was ready (close(), destroy(), or its reconnectStrategy gave up), and redfleet does not reopen it`
    throw new ConnectionError(message, { outcome: 'not-applied' })
  }

  async connect(): Promise<void> {
    this.#refuseIfClosed()
    if (!this.#client.isOpen) await this.#client.connect()
    this.#wasReady ||= this.#client.isReady
  }

  /** See Connectable.whenReady: `ready()`'s PING must not be answered from db 0. */
  async whenReady(): Promise<void> {
    this.#refuseIfClosed()
    if (!this.#client.isReady) await this.#health.nextReady('PING', this.#readyLimit)
    this.#wasReady = true
  }

  /**
   * Lets go of a user's client (the fleet closes; the client stays open): the commands of
   * redfleet's still waiting for a connection are withdrawn and fail as not sent.
   */
  release(): void {
    this.#offline.release()
  }

  /** Closes the client: only for a client redfleet made (never a user's), as closeClient says. */
  async close(): Promise<void> {
    const client = this.#client
    // As closeClient does for ioredis: a client on a connection attempt (its node not known to
    // be down) is given until QUIT_LIMIT to come up, so that the calls made just before close
    // are written, and its close is graceful.
    if (client.isOpen && !client.isReady && this.#health.refusalIfDown('PING') === undefined) {
      await firstEvent(client, ATTEMPT_ENDS, QUIT_LIMIT)
    }
    // What still waits for the connection is withdrawn as not sent: destroyed with the client,
    // it would fail as a lost connection, whose outcome is unknown.
    if (!client.isReady) this.#offline.release()
    // A node-redis client that closes waits for every answer and can no longer be destroyed: a
    // frozen server's would answer the calls in flight after fleet.close() resolved. So the
    // server first answers a PING (after what was sent before it), else closeClient destroys the
    // client, failing those calls as cut off by the close (as the cluster does).
    return closeClient({
      status: this.status,
      quit: async () => {
        await client.sendCommand(['PING'])
        await client.close()
      },
      disconnect: () => destroyClient(client),
    })
  }

  /** A connection of redfleet's own to the same server (`duplicate()`), not connected yet. */
  dedicated(): NodeRedisDedicated {
    return new NodeRedisDedicated(this.#client.duplicate())
  }
}
