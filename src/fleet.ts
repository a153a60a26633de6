import type { Cluster, Redis } from 'ioredis'
import {
  type Broker,
  type BrokerOptions,
  createBroker,
  createPresence,
  type Presence,
  type PresenceOptions,
} from './broker/index.ts'
import { type Cache, type CacheOptions, createCache } from './cache/index.ts'
import { NearCaches } from './cache/near-caches.ts'
import { CallOrder } from './cache/order.ts'
import type { FleetContext } from './context.ts'
import { ClosedError } from './errors.ts'
import { EvictionCheck } from './eviction-policy.ts'
import { FailingNodes } from './failing-nodes.ts'
import { Keyspace } from './keyspace.ts'
import { Lifecycle } from './lifecycle.ts'
import { createMembership, type Membership, type MembershipOptions } from './membership/index.ts'
import { LiveReads } from './membership/live-reads.ts'
import { type FleetOptions, type ResolvedOptions, resolveOptions } from './options.ts'
import { createSubscriber, type Subscriber } from './pubsub/index.ts'
import { resolveRetry } from './retry.ts'
import { KeyOrder } from './store/order.ts'
import { createStore, type Store, type StoreOptions } from './store/store.ts'
import { createStreams, type Streams, type StreamsOptions } from './streams/index.ts'
import { ClusterTopology } from './topology/cluster.ts'
import { TopologyHandle } from './topology/handle.ts'
import { loadIORedis } from './topology/ioredis.ts'
import { processMemory } from './topology/memory.ts'
import { NodeRedisClusterTopology } from './topology/node-redis-cluster.ts'
import { loadNodeRedis } from './topology/node-redis-module.ts'
import { ShardedTopology } from './topology/sharded.ts'
import type { RedisTopology, TopologyKind } from './topology/types.ts'
import { createTracker, type Tracker, type TrackerOptions } from './tracker/index.ts'
import type { NodeRedisClient } from './transport/node-redis-client.ts'
import type { NodeRedisCluster } from './transport/node-redis-cluster.ts'
import { invalidArgument } from './validate.ts'
import { shareWarnings } from './warnings.ts'

/** A connection to a fleet's Redis (or the process memory) and the factory of its primitives. */
export interface Fleet {
  readonly topology: TopologyKind
  readonly namespace: string
  /** Connects and PINGs every node; rejects with ConnectionError naming the node. */
  ready(): Promise<void>
  /** Stops every loop and timer of every primitive made from it and closes every connection it opened. */
  close(): Promise<void>
  /** A view whose keys live under `${namespace}:${ns}:`, sharing this fleet's connections. */
  withNamespace(ns: string): Fleet
  store<V = unknown>(o?: StoreOptions): Store<V>
  cache(o?: CacheOptions): Cache
  broker(o?: BrokerOptions): Broker
  presence(o?: PresenceOptions): Presence
  streams(o?: StreamsOptions): Streams
  membership(o?: MembershipOptions): Membership
  tracker(o?: TrackerOptions): Tracker
}

/** The parts every view of one fleet shares: connections and lifecycle. */
class FleetCore {
  readonly lifecycle = new Lifecycle()
  /** Shared by every store, cache and membership of the fleet and its views (FleetContext.order). */
  readonly order: FleetContext['order']
  readonly nearCaches = new NearCaches()
  readonly failingNodes = new FailingNodes()
  /** Shared by every backend of the fleet and its views (FleetContext.redisHandle). */
  readonly redisHandle = new TopologyHandle(() => this.redis())
  #topology: Promise<RedisTopology> | undefined
  #closing: Promise<void> | undefined
  #subscriber: Subscriber | undefined
  readonly #evictionCheck = new EvictionCheck(this.lifecycle.signal)

  constructor(readonly options: ResolvedOptions) {
    this.order = {
      store: new KeyOrder(this.lifecycle.signal),
      cache: new CallOrder(),
      membership: LiveReads.of(options.topology === 'memory' ? processMemory : (options.client ?? this)),
    }
  }

  /** The pub/sub hub, made on first use (no I/O until something subscribes or publishes). */
  subscriber(): Subscriber {
    if (!this.#subscriber) {
      const { options } = this
      this.#subscriber = createSubscriber({
        topology: options.topology,
        redis: () => this.redis(),
        connectTimeout: options.connectTimeout,
        openingLimit: options.connectTimeout + options.commandTimeout,
        onError: options.onError,
      })
      // Asked for after close: closed at once, so it can never open a connection.
      if (this.lifecycle.closed) void this.#subscriber.close()
    }
    return this.#subscriber
  }

  redis(): Promise<RedisTopology> {
    if (this.options.topology === 'memory') {
      return Promise.reject(new Error('redfleet internal error: the memory topology has no Redis'))
    }
    this.#topology ??= redisTopology(this.options)
    // A failed import is not cached: installing the client package and retrying should work.
    this.#topology.catch(() => {
      this.#topology = undefined
    })
    this.#evictionCheck.onUse(() => this.redis())
    return this.#topology
  }

  /**
   * Notes that a primitive keeping durable data (streams, membership, tracker) was made: each
   * node's eviction policy is asked for from the fleet's next use of Redis (EvictionCheck).
   */
  keepsDurableData(): void {
    if (this.options.topology === 'memory') return
    this.#evictionCheck.want()
    if (this.#topology) this.#evictionCheck.onUse(() => this.redis())
  }

  close(): Promise<void> {
    // Each call, not only the first: a second handler awaiting close must not be waited for, and
    // the lifecycle's close (itself run once) detaches its caller on every call.
    const closing = this.lifecycle.close()
    this.#closing ??= (async () => {
      await closing
      // After the primitives' cleanups (they may still unsubscribe or send), every connection at
      // once: a frozen node's connections each wait out their QUIT limit, and one after another
      // those added up (6 s on a ring with every primitive).
      const topology = await this.#topology?.catch(() => undefined)
      await Promise.all([this.lifecycle.connectionsClosed(), this.#subscriber?.close(), topology?.close()])
    })()
    return this.#closing
  }
}

/**
 * The fleet's Redis topology, on its transport: the client library is imported here, on first
 * use (an injected client's library is the user's, already loaded). A user's node-redis client
 * or cluster is opened if it is not yet, since node-redis fails every command of a client that
 * is not: its commands then wait for the connection, as an ioredis client's do.
 */
async function redisTopology(options: ResolvedOptions): Promise<RedisTopology> {
  const cluster = options.topology === 'cluster'
  if (options.transport === 'node-redis') {
    if (options.client !== undefined) {
      return cluster
        ? new NodeRedisClusterTopology(options.client as NodeRedisCluster, options)
        : ShardedTopology.fromNodeRedis(options.client as NodeRedisClient, options)
    }
    const nodeRedis = await loadNodeRedis()
    return cluster
      ? NodeRedisClusterTopology.fromUrls(nodeRedis, options.servers, options)
      : ShardedTopology.fromNodeRedisUrls(nodeRedis, options.servers, options)
  }
  if (options.client !== undefined) {
    return cluster
      ? ClusterTopology.fromClient(options.client as Cluster, options)
      : ShardedTopology.fromClient(options.client as Redis, options)
  }
  const ioredis = await loadIORedis()
  return cluster
    ? ClusterTopology.fromUrls(ioredis, options.servers, options)
    : ShardedTopology.fromUrls(ioredis, options.servers, options)
}

/** Each view's context, for redfleet's own tools (the CLI's inspector); not public API. */
const contexts = new WeakMap<Fleet, FleetContext>()

export function fleetContext(fleet: Fleet): FleetContext {
  const ctx = contexts.get(fleet)
  if (!ctx) throw invalidArgument('ERR_INVALID_ARGUMENT', 'not a fleet made by createFleet')
  return ctx
}

/** Whether `value` is a fleet made by createFleet (or a view of one). */
export function isFleet(value: unknown): value is Fleet {
  return typeof value === 'object' && value !== null && contexts.has(value as Fleet)
}

class FleetView implements Fleet {
  readonly #core: FleetCore
  readonly #ctx: FleetContext

  constructor(core: FleetCore, keys: Keyspace) {
    this.#core = core
    const { options } = core
    this.#ctx = {
      topology: options.topology,
      keys,
      memory: processMemory,
      redis: () => core.redis(),
      redisHandle: core.redisHandle,
      lifecycle: core.lifecycle,
      retry: resolveRetry(options.retry),
      onError: options.onError,
      warnings: options.warnings,
      commandTimeout: options.commandTimeout,
      connectTimeout: options.connectTimeout,
      subscriber: () => core.subscriber(),
      order: core.order,
      nearCaches: core.nearCaches,
      failingNodes: core.failingNodes,
    }
    contexts.set(this, this.#ctx)
  }

  get topology(): TopologyKind {
    return this.#core.options.topology
  }

  get namespace(): string {
    return this.#ctx.keys.namespace
  }

  async ready(): Promise<void> {
    if (this.#ctx.lifecycle.closed) return this.#ctx.lifecycle.refused('ready')
    if (this.topology === 'memory') return
    try {
      await (await this.#core.redis()).ready()
    } catch (error) {
      // Cut off by close: the caller learns that the fleet closed, not how its sockets did.
      if (!this.#ctx.lifecycle.closed || error instanceof ClosedError) throw error
      throw new ClosedError('ready: the fleet is closed', { cause: error })
    }
  }

  close(): Promise<void> {
    return this.#core.close()
  }

  withNamespace(ns: string): Fleet {
    return new FleetView(this.#core, this.#ctx.keys.child(ns))
  }

  #open<T extends object>(what: string, make: () => T): T {
    this.#ctx.lifecycle.assertOpen(`fleet.${what}()`)
    return shareWarnings(make(), this.#ctx.warnings)
  }

  /** #open, for a primitive whose data Redis must not evict (FleetCore.keepsDurableData). */
  #openDurable<T extends object>(what: string, make: () => T): T {
    const made = this.#open(what, make)
    this.#core.keepsDurableData()
    return made
  }

  store<V = unknown>(o?: StoreOptions): Store<V> {
    return this.#open('store', () => createStore<V>(this.#ctx, o))
  }

  cache(o?: CacheOptions): Cache {
    return this.#open('cache', () => createCache(this.#ctx, o))
  }

  broker(o?: BrokerOptions): Broker {
    return this.#open('broker', () => createBroker(this.#ctx, o))
  }

  presence(o?: PresenceOptions): Presence {
    return this.#open('presence', () => createPresence(this.#ctx, o))
  }

  streams(o?: StreamsOptions): Streams {
    return this.#openDurable('streams', () => createStreams(this.#ctx, o))
  }

  membership(o?: MembershipOptions): Membership {
    return this.#openDurable('membership', () => createMembership(this.#ctx, o))
  }

  tracker(o?: TrackerOptions): Tracker {
    return this.#openDurable('tracker', () => createTracker(this.#ctx, o))
  }
}

/**
 * Creates a fleet. Synchronous and does no I/O: options are validated here (ConfigError) and
 * connections open on first use or on `ready()`. Without a url every primitive runs in process
 * memory, shared by every memory fleet of the process (as every process shares one Redis).
 */
export function createFleet(options?: FleetOptions): Fleet {
  const resolved = resolveOptions(options)
  return new FleetView(new FleetCore(resolved), new Keyspace(resolved.namespace))
}
