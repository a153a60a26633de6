/** A listener of node-redis' pub/sub in buffer mode: the payload, then the channel. */
export type NodeRedisListener = (message: Buffer, channel: Buffer) => void

/**
 * What redfleet uses of a node-redis client (`createClient` of redis / @redis/client 5 or 6),
 * typed here so that compiling redfleet, or using it with ioredis, never needs that package.
 */
export interface NodeRedisClient {
  readonly isOpen: boolean
  readonly isReady: boolean
  readonly options?: {
    readonly url?: string
    readonly socket?: { readonly host?: string; readonly port?: number; readonly path?: string }
    readonly database?: number
  }
  connect(): Promise<unknown>
  sendCommand(args: (string | Buffer)[], options?: object): Promise<unknown>
  duplicate(overrides?: object): NodeRedisClient
  /** Closes once what was sent is answered. */
  close(): Promise<unknown>
  /** Closes at once. */
  destroy(): void
  /** Its socket no longer keeps the process alive. */
  unref(): void
  on(event: string, listener: (...args: never[]) => void): unknown
  once(event: string, listener: (...args: never[]) => void): unknown
  off(event: string, listener: (...args: never[]) => void): unknown
  subscribe(channels: string[], listener: NodeRedisListener, bufferMode: true): Promise<unknown>
  unsubscribe(channels: string[], listener: NodeRedisListener, bufferMode: true): Promise<unknown>
  sSubscribe(channels: string[], listener: NodeRedisListener, bufferMode: true): Promise<unknown>
  sUnsubscribe(channels: string[], listener: NodeRedisListener, bufferMode: true): Promise<unknown>
}

const ignore = () => undefined
const anchored = new WeakSet<object>()

/**
 * Adds one 'error' listener of redfleet's to a node-redis client or cluster, once, for good.
 * `createClient` and `createCluster` return an `Object.create` of the emitter that emits, and
 * Node's EventEmitter gives that object an event table of its own when the count of listeners
 * removed through it drops to zero: the listeners added through it afterwards (the user's, or
 * destroyClient's wait) are never called, and the last one removed stays. This listener keeps
 * the count above zero. (It also means an 'error' of a client with no listener of the user's
 * never throws, as the README says.)
 */
export function anchorListeners(emitter: {
  on(event: 'error', listener: (error: unknown) => void): unknown
}): void {
  if (anchored.has(emitter)) return
  anchored.add(emitter)
  emitter.on('error', ignore)
}

/** Clients of redfleet's whose socket is up and whose handshake has not ended yet. */
const handshaking = new WeakSet<NodeRedisClient>()

/**
 * Follows a client redfleet made through its connection attempts, for destroyClient: its socket
 * is up from 'connect' ("the client is sending its handshake") until the attempt ends.
 */
export function followAttempts(client: NodeRedisClient): void {
  anchorListeners(client)
  const ended = () => handshaking.delete(client)
  client.on('connect', () => handshaking.add(client))
  for (const event of ['ready', 'error', 'reconnecting', 'end']) client.on(event, ended)
}

/**
 * Closes a client at once; resolves once it is closed. node-redis leaks the socket of a client
 * destroyed while it is opening that socket (the socket still becomes ready, after the destroy):
 * a client that is connecting is destroyed once that socket is up ('connect') or its attempt
 * failed ('error'), which an attempt reaches within its connectTimeout. One whose socket is up
 * and handshaking is destroyed at once: a paused server may never answer its handshake, and
 * waiting for 'ready' kept the socket, and the process, alive. One already closing is unref'd.
 */
export function destroyClient(client: NodeRedisClient): Promise<void> {
  if (!client.isOpen) {
    // Closed, or closing: one whose close() began (closeClient's QUIT) waits for every answer and
    // can no longer be destroyed. From a frozen server that never comes, and its socket kept the
    // process alive after fleet.close(): it no longer does.
    client.unref()
    return Promise.resolve()
  }
  if (client.isReady || handshaking.has(client)) {
    client.destroy()
    return Promise.resolve()
  }
  return new Promise((resolve) => {
    const ends = ['connect', 'ready', 'error'] as const
    const destroy = () => {
      for (const event of ends) client.off(event, destroy)
      if (client.isOpen) client.destroy()
      resolve()
    }
    for (const event of ends) client.once(event, destroy)
  })
}

/** RESP3's map type byte ('%'), in node-redis' type mapping. */
const RESP_MAP = 37

/**
 * Options of every command redfleet sends through node-redis: no per-command timeout (node-redis
 * 6 arms an AbortSignal for each by default, a large cost; redfleet times commands out itself,
 * see deadlines.ts), and RESP3 maps as flat arrays, as RESP2 sends them, whatever type mapping the
 * user gave the client (their Buffer or Map choices would change what the backends read).
 */
export const COMMAND_OPTIONS = Object.freeze({ timeout: 0, typeMapping: { [RESP_MAP]: Array } })

/** A command's arguments as node-redis takes them: strings and Buffers only. */
export function commandArgs(
  command: string,
  args: readonly (string | number | Buffer)[],
): (string | Buffer)[] {
  const out = new Array<string | Buffer>(args.length + 1)
  out[0] = command
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    out[i + 1] = typeof arg === 'number' ? String(arg) : arg
  }
  return out
}

/** The `host:port/db` a client talks to (the node id of a standalone fleet). */
export function addressOf(client: NodeRedisClient): { url: string; id: string } {
  const options = client.options ?? {}
  let host = options.socket?.host
  let port = options.socket?.port
  let db = options.database
  if (options.url !== undefined) {
    const url = new URL(options.url)
    host ??= url.hostname.replace(/^\[|\]$/g, '')
    port ??= url.port === '' ? undefined : Number(url.port)
    db ??= url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined
  }
  const id = `${host ?? 'localhost'}:${port ?? 6379}/${db ?? 0}`
  return { url: `redis://${id}`, id }
}
