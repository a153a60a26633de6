/**
 * redfleet's own view of a Redis connection: the few commands the backends send, a generic
 * `call`, a pipeline builder and, for dedicated connections, the lifecycle and pub/sub events.
 * An ioredis Redis or Cluster satisfies these interfaces as it is (no wrapper on that path);
 * other clients are adapted to them (src/transport/node-redis.ts).
 */

/** An argument of a command. */
export type CommandArg = string | number | Buffer

/** A pipeline's replies, one `[error, reply]` per command in the order they were added. */
export type PipelineReplies = [error: Error | null, reply: unknown][]

/** Commands added to a pipeline are sent together by `exec`, in one write. */
export interface CommandPipeline {
  /** How many commands have been added. */
  readonly length: number
  call(command: string, ...args: CommandArg[]): CommandPipeline
  get(key: string): CommandPipeline
  set(key: string, value: string): CommandPipeline
  set(key: string, value: string, nx: 'NX'): CommandPipeline
  set(key: string, value: string, px: 'PX', ttl: number): CommandPipeline
  set(key: string, value: string, px: 'PX', ttl: number, nx: 'NX'): CommandPipeline
  mset(...keysAndValues: string[]): CommandPipeline
  mget(...keys: string[]): CommandPipeline
  unlink(...keys: string[]): CommandPipeline
  eval(script: string, numKeys: number, ...keysAndArgs: CommandArg[]): CommandPipeline
  evalsha(sha: string, numKeys: number, ...keysAndArgs: CommandArg[]): CommandPipeline
  /** A hash as an object of its fields (ioredis' shape). */
  hgetall(key: string): CommandPipeline
  xrange(key: string, start: string, end: string): CommandPipeline
  zrange(key: string, start: string, stop: string, withScores: 'WITHSCORES'): CommandPipeline
  time(): CommandPipeline
  /** Sends every command; a failed command is an `[error, undefined]` entry, not a rejection. */
  exec(): Promise<PipelineReplies | null>
}

/** A connection (or a client routing to several) that runs commands for the backends. */
export interface CommandConnection {
  call(command: string, ...args: CommandArg[]): Promise<unknown>
  get(key: string): Promise<string | null>
  mget(...keys: string[]): Promise<(string | null)[]>
  set(key: string, value: string): Promise<'OK'>
  set(key: string, value: string, nx: 'NX'): Promise<'OK' | null>
  set(key: string, value: string, px: 'PX', ttl: number): Promise<'OK'>
  set(key: string, value: string, px: 'PX', ttl: number, nx: 'NX'): Promise<'OK' | null>
  incr(key: string): Promise<number>
  incrby(key: string, by: number): Promise<number>
  incrbyfloat(key: string, by: number): Promise<string>
  unlink(...keys: string[]): Promise<number>
  exists(...keys: string[]): Promise<number>
  eval(script: string, numKeys: number, ...keysAndArgs: CommandArg[]): Promise<unknown>
  evalsha(sha: string, numKeys: number, ...keysAndArgs: CommandArg[]): Promise<unknown>
  publish(channel: string, message: string | Buffer): Promise<unknown>
  spublish(channel: string, message: string | Buffer): Promise<unknown>
  hdel(key: string, field: string): Promise<number>
  zrem(key: string, member: string): Promise<number>
  xlen(key: string): Promise<number>
  xinfo(subcommand: 'STREAM' | 'GROUPS', key: string): Promise<unknown>
  xinfo(subcommand: 'CONSUMERS', key: string, group: string): Promise<unknown>
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    count: 'COUNT',
    n: number,
  ): Promise<[string, string[]]>
  ping(): Promise<string>
  info(...sections: string[]): Promise<string>
  pipeline(): CommandPipeline
}

/** A connection that can be opened and PINGed: what `ready()` checks on every command connection. */
export interface Connectable {
  /** ioredis' words: 'wait' (never connected), 'ready', 'end' (closed for good), ... */
  readonly status: string
  connect(): Promise<void>
  /**
   * Settles once the connection is ready (or rejects when its node goes down first), where a
   * command sent before that could be answered by a connection that then fails its handshake:
   * node-redis writes what waits for a connection together with the handshake, before the
   * SELECT of the url's db is answered, so a PING could be answered from db 0.
   */
  whenReady?(): Promise<void>
  ping(): Promise<unknown>
}

/**
 * What a connection tells of its life, in ioredis' words: 'ready' on every (re)connect, 'error'
 * with the cause of a failure, 'close' on every loss or failed attempt. What watchConnection
 * (src/topology/health.ts) follows to know a node's health.
 */
export interface ConnectionEvents {
  /** 'end' once closed for good. */
  readonly status: string
  /** A retry strategy (attempt → delay in ms) says that it reconnects by itself after a 'close'. */
  readonly options: { retryStrategy?: unknown }
  on(event: 'ready' | 'close', listener: () => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
  off(event: 'ready' | 'close' | 'error', listener: (...args: unknown[]) => void): unknown
}

/**
 * A connection of redfleet's own to one node, for what would stall a shared one: blocking reads
 * and subscriptions. It opens on `connect()`, reconnects by itself, and emits 'ready' on every
 * (re)connect, 'close' on every loss or failed attempt, 'error' with the cause; subscribed
 * messages arrive as 'messageBuffer' / 'smessageBuffer' (channel, payload).
 */
export interface DedicatedConnection extends Connectable {
  /** Settings read when the connection (re)opens; an adapter may ignore them. */
  readonly options: {
    protocol?: number
    autoResubscribe?: boolean
    retryStrategy?: unknown
  }
  /**
   * ioredis' socket: a command sent while it is not writable (lost, its 'close' not emitted
   * yet) waits in the offline queue and goes out first on the next connection.
   */
  readonly stream?: { readonly writable: boolean }
  call(command: string, ...args: CommandArg[]): Promise<unknown>
  pipeline(): CommandPipeline
  subscribe(...channels: string[]): Promise<unknown>
  ssubscribe(...channels: string[]): Promise<unknown>
  unsubscribe(...channels: string[]): Promise<unknown>
  sunsubscribe(...channels: string[]): Promise<unknown>
  /** QUIT: closes once what was sent is answered. */
  quit(): Promise<unknown>
  /** Closes at once; what is in flight fails. */
  disconnect(): void
  on(event: 'ready' | 'close' | 'moved', listener: () => void): this
  on(event: 'error', listener: (error: unknown) => void): this
  on(event: 'messageBuffer' | 'smessageBuffer', listener: (channel: Buffer, message: Buffer) => void): this
  once(event: 'close', listener: () => void): this
  off(event: 'close', listener: () => void): this
}
