import { EventEmitter } from 'node:events'
import { COMMAND_OPTIONS, commandArgs, destroyClient, type NodeRedisClient } from './node-redis-client.ts'
import { NodeRedisPipeline } from './node-redis-pipeline.ts'
import type { CommandArg, DedicatedConnection } from './types.ts'

/**
 * A node-redis client of redfleet's own (a `duplicate()` of the user's) as a DedicatedConnection:
 * node-redis' events in the words redfleet's subscribers and blocking reads listen for. Its
 * commands have no timeout (blocking reads wait as long as they asked to). node-redis reconnects
 * by itself and re-subscribes the channels it holds; the subscriber's own re-subscription after
 * 'ready' then finds them subscribed already.
 */
export class NodeRedisDedicated extends EventEmitter implements DedicatedConnection {
  readonly #client: NodeRedisClient
  /**
   * ioredis' settings; node-redis has its own (RESP version, resubscription). It reconnects by
   * itself (its reconnectStrategy), which a retry strategy says here: an 'end' is a close on
   * purpose, not a lost node (see watchConnection).
   */
  readonly options: DedicatedConnection['options'] = { retryStrategy: () => undefined }
  #status = 'wait'

  constructor(client: NodeRedisClient) {
    super()
    this.#client = client
    client.on('ready', () => {
      this.#status = 'ready'
      this.emit('ready')
    })
    client.on('error', (error: unknown) => this.emit('error', error))
    // A lost connection or a failed attempt: node-redis tries again (ioredis' 'close').
    client.on('reconnecting', () => {
      if (this.#status !== 'end') this.#status = 'reconnecting'
      this.emit('close')
    })
    client.on('end', () => {
      this.#status = 'end'
      this.emit('close')
    })
  }

  get status(): string {
    return this.#status
  }

  async connect(): Promise<void> {
    if (this.#client.isOpen) return
    this.#status = 'connecting'
    await this.#client.connect()
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
  readonly #send = (args: (string | Buffer)[]) => {
    if (this.#status === 'wait') this.connect().catch(() => undefined)
    return this.#client.sendCommand(args, COMMAND_OPTIONS)
  }

  pipeline(): NodeRedisPipeline {
    return new NodeRedisPipeline(this.#send)
  }

  readonly #message = (message: Buffer, channel: Buffer) => this.emit('messageBuffer', channel, message)
  readonly #shardMessage = (message: Buffer, channel: Buffer) => this.emit('smessageBuffer', channel, message)

  subscribe(...channels: string[]): Promise<unknown> {
    return this.#client.subscribe(channels, this.#message, true)
  }

  unsubscribe(...channels: string[]): Promise<unknown> {
    return this.#client.unsubscribe(channels, this.#message, true)
  }

  ssubscribe(...channels: string[]): Promise<unknown> {
    return this.#client.sSubscribe(channels, this.#shardMessage, true)
  }

  sunsubscribe(...channels: string[]): Promise<unknown> {
    return this.#client.sUnsubscribe(channels, this.#shardMessage, true)
  }

  async quit(): Promise<unknown> {
    if (!this.#client.isOpen) return
    this.#status = 'end'
    return this.#client.close()
  }

  disconnect(): void {
    this.#status = 'end'
    destroyClient(this.#client)
  }
}
