import type { Redis } from 'ioredis'
import { ConfigError, isACluster } from '../errors.ts'
import { NodeRedisConnection } from '../transport/node-redis.ts'
import { addressOf, followAttempts, type NodeRedisClient } from '../transport/node-redis-client.ts'
import type { CommandConnection, Connectable, DedicatedConnection } from '../transport/types.ts'
import { clientView, withdrawable } from './client-view.ts'
import {
  type ConnectionSettings,
  closeClient,
  coalesceWrites,
  connectAndPing,
  DEDICATED_DUPLICATE,
  ioredisTls,
  nodeRedisOptions,
  redisOptions,
  type ServerAddress,
  timeCommands,
} from './connection.ts'
import { HealthRegistry, limitHandshake, refuseWhileDown, watchConnection, watchDedicated } from './health.ts'
import type { IORedisModule } from './ioredis.ts'
import { NodeRedisWatch } from './node-redis-health.ts'
import type { NodeRedisModule } from './node-redis-module.ts'
import { connectionOf, groupKeys, MAX_COMMAND_KEYS, type Placement, pipelinePerNode } from './pipeline.ts'
import { HashRing } from './ring.ts'
import { keySlot } from './slot.ts'
import { type SetCommand, TickBatch } from './tick-batch.ts'
import type { Access, Client, KeyBatch, MasterNode, RedisTopology } from './types.ts'

/** A command connection of a server pool: runs commands and can be connected and PINGed. */
type PooledConnection = CommandConnection & Connectable

/** How a pool's connections are used, by the client library they come from. */
interface PoolTransport<C extends PooledConnection> {
  /** Called on the connection a command is about to be sent on. */
  beforeSend(connection: C): void
  /** A new dedicated connection to the server, not connected yet. */
  dedicated(): DedicatedConnection
  /**
   * Closes a pooled connection redfleet opened, or lets go of a user's client (never closed):
   * what redfleet still has waiting in it for a connection is withdrawn. Absent: nothing to do.
   */
  close?(connection: C): Promise<void>
  /** Stops listening to a user's client when the topology closes. */
  detach?(): void
}

/**
 * One command connection of a server's pool and the GETs, SETs and MGETs of the current tick on
 * it (TickBatch), which go out before any other command is handed the connection.
 */
class Lane<C extends PooledConnection = PooledConnection> {
  readonly batch = new TickBatch(() => this.#take())

  constructor(
    readonly connection: C,
    readonly transport: PoolTransport<C>,
  ) {}

  /** The connection to send a command on, once the pending batch is sent (SPEC §2 order). */
  pick(): C {
    this.batch.flush()
    return this.#take()
  }

  #take(): C {
    this.transport.beforeSend(this.connection)
    return this.connection
  }
}

/**
 * One server: a small pool of command connections (`pool.size`), each a lane. A key's commands
 * always take the lane of its hash slot: Redis keeps the order of commands per connection only,
 * so spreading one key's commands over several connections would let a later call overtake an
 * earlier one (SPEC §2). Keys that share a hash tag share a lane, as a script's keys must.
 */
class ServerPool<C extends PooledConnection = PooledConnection> {
  readonly lanes: Lane<C>[]

  constructor(
    readonly address: ServerAddress,
    readonly connections: C[],
    readonly transport: PoolTransport<C>,
  ) {
    this.lanes = connections.map((connection) => new Lane(connection, transport))
  }

  laneOf(key: string): number {
    return this.lanes.length === 1 ? 0 : keySlot(key) % this.lanes.length
  }

  lane(key: string): Lane<C> {
    return this.lanes[this.laneOf(key)]!
  }

  /**
   * A connection for a command on no key (SCAN, INFO), once every command sent before on the
   * other lanes has been run: Redis orders one connection's commands only, and a SCAN on lane 0
   * must not miss a write just sent on another. A PING answered on a lane is that barrier; one
   * that fails says nothing the lane's own calls do not already report.
   */
  async caughtUp(): Promise<C> {
    for (const lane of this.lanes) lane.batch.flush()
    if (this.lanes.length > 1) {
      await Promise.all(
        this.lanes.slice(1).map((lane) =>
          lane
            .pick()
            .ping()
            .catch(() => undefined),
        ),
      )
    }
    return this.lanes[0]!.pick()
  }
}

/** ioredis' connections leave in one write per tick once corked (coalesceWrites). */
function ioredisTransport(dedicated: () => Redis, owned: boolean): PoolTransport<Redis> {
  return { beforeSend: coalesceWrites, dedicated, ...(owned ? { close: closeClient } : {}) }
}

/**
 * node-redis writes what is sent within a tick in one write by itself. Dedicated connections are
 * duplicates of `first`'s client; `owned`: the pool's clients are redfleet's, closed with it.
 */
function nodeRedisTransport(
  first: NodeRedisConnection,
  watch: NodeRedisWatch,
  owned: boolean,
): PoolTransport<NodeRedisConnection> {
  return {
    beforeSend: () => undefined,
    dedicated: () => first.dedicated(),
    detach: () => watch.stop(),
    close: owned ? (connection) => connection.close() : async (connection) => connection.release(),
  }
}

/** A node-redis client as a pool's connection to node `id`, followed by `watch` and opened now. */
function nodeRedisConnection(
  client: NodeRedisClient,
  id: string,
  watch: NodeRedisWatch,
  settings: ConnectionSettings,
): NodeRedisConnection {
  const connection = new NodeRedisConnection(client, settings, watch.of(client, id))
  connection.connect().catch(() => undefined)
  return connection
}

/**
 * Standalone (one server) and the client-side sharded ring (several independent servers), one
 * class: standalone is a ring of one without the ring (every key goes to its one server, all
 * keys of one lane make one batch). The multi-key paths that can skip grouping by node on one
 * connection (one command already answers in the caller's key order) check `oneConnection`
 * themselves: getPerBatch in pipeline.ts, the cache's getMany, the store's setMany and sendsAtOnce,
 * the streams' publish. Everything else runs the same code on both.
 */
export class ShardedTopology implements RedisTopology {
  readonly kind: 'standalone' | 'sharded'
  readonly oneConnection: boolean
  readonly inOrderOnceWritten = true
  readonly #servers: Map<string, ServerPool>
  readonly #ring: HashRing | undefined
  readonly #settings: ConnectionSettings
  readonly #health: HealthRegistry

  private constructor(servers: ServerPool[], settings: ConnectionSettings, health: HealthRegistry) {
    this.#settings = settings
    this.#health = health
    this.#servers = new Map(servers.map((s) => [s.address.id, s]))
    if (this.#servers.size !== servers.length)
      throw new ConfigError('the same Redis server is listed twice in url')
    this.kind = servers.length === 1 ? 'standalone' : 'sharded'
    this.oneConnection = servers.length === 1 && servers[0]!.lanes.length === 1
    this.#ring = servers.length === 1 ? undefined : new HashRing([...this.#servers.keys()])
  }

  static fromUrls(
    ioredis: IORedisModule,
    addresses: ServerAddress[],
    settings: ConnectionSettings,
  ): ShardedTopology {
    const health = new HealthRegistry(settings.onError)
    const pools = addresses.map((address) => {
      const connections = Array.from({ length: settings.poolSize }, () => {
        const client = new ioredis.Redis(address.url, {
          ...redisOptions(settings),
          ...ioredisTls(address.url),
          commandTimeout: undefined,
        })
        watchConnection(client, health.of(address.id), settings.reconnectAttempts)
        limitHandshake(client, settings.connectTimeout)
        timeCommands(client, settings.commandTimeout)
        return client
      })
      const dedicated = () =>
        new ioredis.Redis(address.url, { ...redisOptions(settings, true), ...ioredisTls(address.url) })
      return new ServerPool(address, connections, ioredisTransport(dedicated, true))
    })
    return new ShardedTopology(pools, settings, health)
  }

  /**
   * Wraps a user's Redis instance; redfleet never closes it. Its events tell the node's health
   * (only listened to, until the fleet closes), and redfleet's calls go through a view of it
   * (clientView) that times them out (`commandTimeout`) and refuses them while the node is
   * known to be down, as on redfleet's own connections; the user's own calls are left alone.
   */
  static fromClient(client: Redis, settings: ConnectionSettings): ShardedTopology {
    const { host, port, db } = client.options
    const address = { url: `redis://${host}:${port}/${db ?? 0}`, id: `${host}:${port}/${db ?? 0}` }
    const health = new HealthRegistry(settings.onError)
    const node = health.of(address.id)
    const unwatch = watchConnection(client, node, settings.reconnectAttempts, false)
    const view = clientView(client)
    const withdraw = withdrawable(view)
    refuseWhileDown(view, node)
    timeCommands(view, settings.commandTimeout)
    // What redfleet left waiting for a connection fails as not sent once the node is known down.
    const unfollow = node.onChange((down) => {
      if (down) withdraw(node.refusal('command'))
    })
    const dedicated = () => client.duplicate(DEDICATED_DUPLICATE)
    const detach = () => {
      unwatch()
      unfollow()
    }
    const pool = new ServerPool(address, [view], { ...ioredisTransport(dedicated, false), detach })
    return new ShardedTopology([pool], settings, health)
  }

  /**
   * Wraps a user's node-redis client (standalone), opened now if it is not yet (node-redis fails
   * every command of a client that is not open); redfleet never closes it. Its events tell the
   * node's health (NodeRedisWatch: the client is only listened to), and while the node is known
   * to be down its commands fail at once (NodeRedisConnection).
   */
  static fromNodeRedis(client: NodeRedisClient, settings: ConnectionSettings): ShardedTopology {
    const health = new HealthRegistry(settings.onError)
    const watch = new NodeRedisWatch(health, settings.reconnectAttempts)
    const connection = nodeRedisConnection(client, addressOf(client).id, watch, settings)
    const pool = new ServerPool(
      connection.address,
      [connection],
      nodeRedisTransport(connection, watch, false),
    )
    return new ShardedTopology([pool], settings, health)
  }

  /**
   * Standalone or the ring on node-redis clients of redfleet's own (`transport: 'node-redis'`):
   * `poolSize` per server, made and opened now, followed as a user's are, closed by `close()`.
   */
  static fromNodeRedisUrls(
    nodeRedis: NodeRedisModule,
    addresses: ServerAddress[],
    settings: ConnectionSettings,
  ): ShardedTopology {
    const health = new HealthRegistry(settings.onError)
    const watch = new NodeRedisWatch(health, settings.reconnectAttempts)
    const pools = addresses.map((address) => {
      const connections = Array.from({ length: settings.poolSize }, () => {
        // Its failures are told by the watch (which anchors its listeners: see anchorListeners)
        // and by the calls they fail.
        const client = nodeRedis.createClient(nodeRedisOptions(address.url, settings))
        followAttempts(client)
        return nodeRedisConnection(client, address.id, watch, settings)
      })
      return new ServerPool(address, connections, nodeRedisTransport(connections[0]!, watch, true))
    })
    return new ShardedTopology(pools, settings, health)
  }

  #poolOf(key: string): ServerPool {
    const id = this.#ring ? this.#ring.nodeFor(key) : this.#servers.keys().next().value!
    return this.#servers.get(id)!
  }

  async ready(): Promise<void> {
    const pools = [...this.#servers.values()]
    await Promise.all(
      pools.flatMap((pool) =>
        pool.connections.map((c) => connectAndPing(c, pool.address.id, this.#health.of(pool.address.id))),
      ),
    )
    await Promise.all(pools.map((pool) => refuseClusterNode(pool.connections[0]!, pool.address.id)))
  }

  async close(): Promise<void> {
    this.#health.stop()
    // Calls made before close still waiting for the end of their tick go out first: closing
    // answers what was sent (QUIT) but would fail what was not.
    for (const pool of this.#servers.values()) for (const lane of pool.lanes) lane.batch.flush()
    for (const { transport } of this.#servers.values()) transport.detach?.()
    await Promise.all(
      [...this.#servers.values()].flatMap(({ connections, transport }) =>
        transport.close ? connections.map((connection) => transport.close!(connection)) : [],
      ),
    )
  }

  client(key: string): Client {
    return this.#poolOf(key).lane(key).pick()
  }

  get(key: string): Promise<string | null> {
    return this.#poolOf(key).lane(key).batch.get(key)
  }

  set(key: string, command: SetCommand): Promise<string | null> {
    return this.#poolOf(key).lane(key).batch.set(key, command)
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return this.#poolOf(keys[0]!).lane(keys[0]!).batch.getMany(keys)
  }

  async batches(keys: readonly string[]): Promise<KeyBatch[]> {
    if (keys.length === 0) return []
    if (this.oneConnection && keys.length <= MAX_COMMAND_KEYS)
      return [{ node: this.#poolOf('').address.id, lane: 0, keys: [...keys], indexes: keys.map((_, i) => i) }]
    const place = (key: string): Placement => {
      const pool = this.#poolOf(key)
      return { node: pool.address.id, lane: pool.laneOf(key) }
    }
    return groupKeys(keys, (key) => connectionOf(place(key)), place)
  }

  pipeline(
    batches: readonly KeyBatch[],
    build: Parameters<RedisTopology['pipeline']>[1],
    access?: Access,
  ): Promise<unknown[][]> {
    return pipelinePerNode(batches, (batch) => this.batchClient(batch), build, undefined, access)
  }

  batchClient(batch: KeyBatch): Client {
    return this.#servers.get(batch.node)!.lanes[batch.lane]!.pick()
  }

  masters(): Promise<MasterNode[]> {
    return Promise.all(
      [...this.#servers.values()].map(async (pool) => ({
        id: pool.address.id,
        client: await pool.caughtUp(),
      })),
    )
  }

  nodeOf(key: string): string | undefined {
    return this.#poolOf(key).address.id
  }

  slotOwners(): undefined {
    return undefined
  }

  /** The ring is fixed by the url list: keys never move. */
  onLayoutChange(_listener: () => void): () => void {
    return () => undefined
  }

  async refreshLayout(): Promise<void> {}

  async checkLayout(): Promise<void> {}

  doubtLayout(): void {}

  slotMoved(_error: unknown): undefined {}

  async dedicatedToNode(nodeId: string): Promise<DedicatedConnection> {
    const pool = this.#servers.get(nodeId)
    if (!pool) throw new ConfigError(`no Redis node ${nodeId} in this fleet`)
    const client = pool.transport.dedicated()
    // Blocking reads and subscriptions wait for the node: they only tell its health what they see.
    watchDedicated(client, this.#health.of(nodeId), this.#settings.reconnectAttempts)
    return client
  }
}

/**
 * A url naming a Redis Cluster node, in a fleet without `cluster: true`: the node answers the
 * keys of its own slots and redirects the rest, so calls would work for some keys only. ready()
 * says so, as it does for `cluster: true` against a server that is not a cluster.
 */
async function refuseClusterNode(connection: CommandConnection, name: string): Promise<void> {
  // A server that refuses INFO (renamed by its operator) is taken at its PING's word.
  const info = await connection.info('cluster').catch(() => '')
  if (/^cluster_enabled:1\b/m.test(String(info))) {
    throw isACluster(`ready: ${name} is a Redis Cluster node: connect with cluster: true`, {
      outcome: 'not-applied',
    })
  }
}
