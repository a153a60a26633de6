import { ClosedError, ConfigError, MissingClientError } from '../errors.ts'
import type { RedisTopology } from '../topology/types.ts'
import { forEachListener } from './listeners.ts'
import { payloadBuffer } from './memory.ts'
import { type Mode, NodeConnection, reconnectDelay } from './node-connection.ts'
import { type ErrorSink, report } from './report.ts'
import type {
  ChannelSubscription,
  NodeSubscriber,
  PayloadListener,
  RawListener,
  RawPayload,
  Subscriber,
} from './types.ts'
import { Waiters } from './waiters.ts'

/** What the hub needs from its fleet. */
export interface RedisSubscriberOptions {
  /** The fleet's topology (built on first use). */
  redis(): Promise<RedisTopology>
  /** How long `ready()` and `clientId()` wait for Redis before rejecting. */
  connectTimeout: number
  /** How long the topology may take to open (connectTimeout + commandTimeout): `ready()` waits for it. */
  openingLimit: number
  onError: ErrorSink
}

/** A channel this fleet listens to, and the node connection it is subscribed on. */
interface HubChannel {
  readonly name: string
  readonly listeners: Set<PayloadListener>
  /** The one listener the node connection knows: fans out to `listeners`. */
  readonly dispatch: RawListener
  node: NodeConnection | undefined
  /** Placement attempts; only the latest one may apply its result. */
  placement: number
  failures: number
  retry: NodeJS.Timeout | undefined
  /** The last placement failure, when waiting cannot fix it (ioredis missing, bad config). */
  fatal: unknown
  /** The placement under way, while it waits for the topology (bounded by the opening's deadline). */
  placing: Promise<void> | undefined
}

/** After a connection drop, how long the cluster waits before re-checking slot owners. */
const REROUTE_DELAY = 250

/**
 * The Redis Subscriber: one dedicated connection per node (`topology.dedicatedToNode`),
 * opened when the node gets its first channel, shared by every channel on that node (on a
 * cluster, one for its sharded channels and one for the plain `__redis__:invalidate`: #node).
 *
 * Placement: a channel is subscribed on the node `topology.batches([channel])` names, which is
 * where PUBLISH of that channel goes too: the only server (standalone), the ring's node for the
 * name (sharded ring: each server is its own pub/sub world, so publisher and subscribers must
 * agree), or the master of the channel's slot (cluster, with SSUBSCRIBE/SPUBLISH). Plain
 * PUBLISH on a cluster is broadcast to every node over the cluster bus; sharded pub/sub keeps
 * each message on the one shard that owns it.
 *
 * On the cluster we keep plain per-master connections rather than ioredis' `shardedSubscribers`
 * group: the near cache's `__redis__:invalidate` subscription needs a per-master connection that
 * answers CLIENT ID, which that group does not expose. When a slot moves
 * (a MOVED reply to SSUBSCRIBE, or Redis pushing SUNSUBSCRIBE), or a master's connection
 * drops, the hub refreshes the slot map and re-places the affected channels.
 */
export class RedisSubscriber implements Subscriber {
  readonly #options: RedisSubscriberOptions
  readonly #waiters = new Waiters()
  readonly #channels = new Map<string, HubChannel>()
  /** Per mode and node (see #node). */
  readonly #nodes = new Map<string, NodeConnection>()
  readonly #rerouting = new Set<NodeConnection>()
  #rerouteTimer: NodeJS.Timeout | undefined
  #cluster = false
  #topology: RedisTopology | undefined
  #closed = false

  constructor(options: RedisSubscriberOptions) {
    this.#options = options
  }

  get #mode(): Mode {
    return this.#cluster ? 'ssubscribe' : 'subscribe'
  }

  subscribe(channel: string, listener: PayloadListener): ChannelSubscription {
    if (this.#closed) throw new ClosedError(`subscribe '${channel}': the fleet is closed`)
    let hub = this.#channels.get(channel)
    if (!hub) {
      const listeners = new Set<PayloadListener>()
      hub = {
        name: channel,
        listeners,
        dispatch: (payload) => fanOut(listeners, payload, this.#options.onError),
        node: undefined,
        placement: 0,
        failures: 0,
        retry: undefined,
        fatal: undefined,
        placing: undefined,
      }
      this.#channels.set(channel, hub)
      this.#startPlacing(hub)
    }
    // A wrapper per call: the same function subscribed twice is two subscriptions.
    const own: PayloadListener = (payload) => listener(payload)
    hub.listeners.add(own)
    const registered = hub
    let active = true
    return {
      ready: (signal) =>
        this.#waiters.until(
          () => !active || this.#isLive(registered),
          `subscribe '${channel}'`,
          this.#options.connectTimeout,
          signal,
          { step: () => registered.placing, limit: this.#options.openingLimit },
        ),
      unsubscribe: () => {
        if (!active) return
        active = false
        registered.listeners.delete(own)
        if (registered.listeners.size === 0) this.#drop(registered)
        this.#waiters.changed()
      },
    }
  }

  publish(channel: string, payload: string | Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError(`publish '${channel}': the fleet is closed`))
    // Copied now: the caller may reuse its buffer as soon as publish returns.
    return this.#publish(channel, typeof payload === 'string' ? payload : payloadBuffer(payload))
  }

  #publish(channel: string, data: string | Buffer): Promise<void> {
    const topology = this.#topology
    // Before the topology exists, every publish waits on the same promise: its reactions run
    // in registration order, so these publishes still reach Redis in call order.
    if (!topology) {
      return this.#options.redis().then((resolved) => {
        this.#topology = resolved
        return this.#publish(channel, data)
      })
    }
    // One channel's publishes always take one connection (its key's lane of the pool), so
    // they reach Redis, and every subscriber, in call order.
    const client = topology.client(channel)
    const sent = topology.kind === 'cluster' ? client.spublish(channel, data) : client.publish(channel, data)
    return sent.then(() => undefined)
  }

  node(nodeId: string): NodeSubscriber {
    if (this.#closed) throw new ClosedError(`subscriber node ${nodeId}: the fleet is closed`)
    const connection = this.#node('subscribe', nodeId)
    const waiters = this.#waiters
    const timeout = this.#options.connectTimeout
    return {
      nodeId,
      get state() {
        return connection.state
      },
      clientId: () => {
        connection.open()
        return waiters.value(() => connection.clientId, `client id of subscriber ${nodeId}`, timeout)
      },
      subscribe: (channel, listener) => {
        const own: RawListener = (payload) => listener(payload)
        connection.add('subscribe', channel, own)
        let active = true
        return {
          ready: (signal) =>
            waiters.until(
              () => !active || connection.isConfirmed('subscribe', channel),
              `subscribe '${channel}' on ${nodeId}`,
              timeout,
              signal,
            ),
          unsubscribe: () => {
            if (!active) return
            active = false
            connection.remove('subscribe', channel, own)
            waiters.changed()
          },
        }
      },
      onState: (listener) => connection.onState(listener),
      probe: () => connection.probe(),
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#rerouteTimer)
    for (const hub of this.#channels.values()) clearTimeout(hub.retry)
    this.#channels.clear()
    this.#waiters.close()
    const nodes = [...this.#nodes.values()]
    this.#nodes.clear()
    await Promise.all(nodes.map((node) => node.close()))
  }

  #isLive(hub: HubChannel): boolean {
    if (hub.fatal !== undefined) throw hub.fatal
    return hub.node?.isConfirmed(this.#mode, hub.name) === true
  }

  /**
   * The connection to `nodeId` for channels of `mode`. One per mode: Redis counts plain and
   * sharded subscriptions apart (the SUNSUBSCRIBE of a node's last sharded channel answers 0
   * while `__redis__:invalidate` is still subscribed), and ioredis leaves subscriber mode on any
   * count of 0, taking the messages that follow for command replies: on a cluster, a broker's
   * last unsubscribe on a node lost the near cache's invalidations there, and a near cache's
   * stopped tracking the broker's messages. Off a cluster every channel is plain: one connection.
   */
  #node(mode: Mode, nodeId: string): NodeConnection {
    const key = `${mode} ${nodeId}`
    let node = this.#nodes.get(key)
    if (!node) {
      node = new NodeConnection(nodeId, async () => (await this.#options.redis()).dedicatedToNode(nodeId), {
        changed: () => this.#waiters.changed(),
        moved: (moved) => this.#scheduleReroute(moved),
        down: (down) => {
          if (this.#cluster) this.#scheduleReroute(down)
        },
        onError: this.#options.onError,
      })
      this.#nodes.set(key, node)
    }
    return node
  }

  #startPlacing(hub: HubChannel): void {
    const placing = this.#place(hub)
    hub.placing = placing
    void placing.finally(() => {
      if (hub.placing === placing) hub.placing = undefined
    })
  }

  /** Subscribes a channel on the node that owns it (or moves it there); retried until it works. */
  async #place(hub: HubChannel): Promise<void> {
    const attempt = ++hub.placement
    clearTimeout(hub.retry)
    hub.retry = undefined
    try {
      const topology = await this.#options.redis()
      this.#cluster = topology.kind === 'cluster'
      const [batch] = await topology.batches([hub.name])
      if (this.#closed || this.#channels.get(hub.name) !== hub || attempt !== hub.placement) return
      const mode = this.#mode
      const node = this.#node(mode, batch!.node)
      if (hub.node === node) {
        node.resubscribe(mode, hub.name)
      } else {
        hub.node?.remove(mode, hub.name, hub.dispatch)
        hub.node = node
        node.add(mode, hub.name, hub.dispatch)
      }
      hub.failures = 0
      hub.fatal = undefined
      this.#waiters.changed()
    } catch (error) {
      if (this.#closed || this.#channels.get(hub.name) !== hub || attempt !== hub.placement) return
      report(this.#options.onError, error, `subscribe '${hub.name}'`)
      if (error instanceof MissingClientError || error instanceof ConfigError) {
        hub.fatal = error
        this.#waiters.changed()
      }
      hub.retry = setTimeout(() => this.#startPlacing(hub), reconnectDelay(++hub.failures))
    }
  }

  #drop(hub: HubChannel): void {
    this.#channels.delete(hub.name)
    clearTimeout(hub.retry)
    hub.placement++
    hub.node?.remove(this.#mode, hub.name, hub.dispatch)
    hub.node = undefined
  }

  /** Cluster: re-places the sharded channels of `node` once the slot map is refreshed. */
  #scheduleReroute(node: NodeConnection): void {
    if (this.#closed || node.channels('ssubscribe').length === 0) return
    this.#rerouting.add(node)
    this.#rerouteTimer ??= setTimeout(() => void this.#reroute(), REROUTE_DELAY)
  }

  async #reroute(): Promise<void> {
    const nodes = [...this.#rerouting]
    this.#rerouting.clear()
    try {
      await (await this.#options.redis()).refreshLayout()
    } catch (error) {
      report(this.#options.onError, error, 'subscriber slot refresh')
    } finally {
      this.#rerouteTimer = undefined
    }
    if (this.#closed) return
    for (const node of nodes) {
      for (const name of node.channels('ssubscribe')) {
        const hub = this.#channels.get(name)
        if (hub?.node === node) this.#startPlacing(hub)
      }
    }
  }
}

/** Delivers one message to every listener of a channel; a throwing one does not stop the rest. */
function fanOut(listeners: Set<PayloadListener>, payload: RawPayload, onError: ErrorSink): void {
  // PUBLISH payloads are always bulk strings; anything else is not a message of ours.
  if (!Buffer.isBuffer(payload)) return
  forEachListener(listeners, (listener) => {
    try {
      listener(payload)
    } catch (error) {
      report(onError, error, 'pubsub listener')
    }
  })
}
