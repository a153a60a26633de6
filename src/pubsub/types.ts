/**
 * The fleet's subscriber connection layer: what brokers, presence rooms and the cache's
 * near-cache invalidations share. One instance per fleet (all `withNamespace` views share it),
 * reached through `FleetContext.subscriber()`, closed by `fleet.close()` after the primitives.
 */

/** Receives each message of a channel as the bytes that were published. */
export type PayloadListener = (payload: Buffer) => void

/**
 * A message as Redis sent it on a node connection: the published bytes for PUBLISH; on
 * `__redis__:invalidate`, the array of invalidated keys, or null when FLUSHALL/FLUSHDB
 * invalidated every key at once.
 */
export type RawPayload = Buffer | Buffer[] | null

/** Receives each message of a node-level subscription (see RawPayload). */
export type RawListener = (payload: RawPayload) => void

/**
 * One listener registered on one channel. The registration lasts until `unsubscribe()` (or
 * the fleet closes), across reconnects: it is re-established on every new connection.
 */
export interface ChannelSubscription {
  /**
   * Resolves once Redis has confirmed the channel's subscription on the current connection
   * (at once when it already has, and at once in memory). Rejects with `ConnectionError` when
   * that does not happen within the fleet's `connectTimeout`, with `ClosedError` when the fleet
   * closes, or with the signal's reason when `signal` aborts. A rejection does not remove the
   * registration: the channel goes live by itself once the connection is back.
   */
  ready(signal?: AbortSignal): Promise<void>
  /**
   * Removes this listener (idempotent). When it was the channel's last local listener, the
   * connection sends UNSUBSCRIBE (SUNSUBSCRIBE on the cluster).
   */
  unsubscribe(): void
}

/** Whether a node's subscriber connection is connected with all its subscriptions in place. */
export type NodeState = 'up' | 'down'

/**
 * The subscriber connection to one master, by `MasterNode.id` (from `topology.masters()`).
 * Made for the near cache, which has Redis push key invalidations to it with
 * `CLIENT TRACKING on REDIRECT <clientId()>`; the connection speaks RESP2 so that those
 * arrive as ordinary messages on the `__redis__:invalidate` channel.
 */
export interface NodeSubscriber {
  readonly nodeId: string
  /** 'up' once connected and every subscription of this node is confirmed; 'down' otherwise. */
  readonly state: NodeState
  /**
   * The CLIENT ID of the current connection, waiting (up to `connectTimeout`) for it to be
   * connected. A reconnect makes a new connection with a new id: re-read it on every 'up'.
   */
  clientId(): Promise<number>
  /**
   * Plain SUBSCRIBE on this node's connection, even on the cluster (tracking invalidations are
   * plain pub/sub messages). The channel is taken as is: it is not put under the namespace.
   * For `__redis__:invalidate` the listener gets the invalidated keys (or null, see RawPayload).
   */
  subscribe(channel: string, listener: RawListener): ChannelSubscription
  /**
   * Called with 'down' when the connection drops (everything this node delivered may have
   * missed messages from then on) and with 'up' when it is back and every subscription of
   * the node is confirmed again. Returns a function that removes the listener.
   */
  onState(listener: (state: NodeState) => void): () => void
  /**
   * Sends a PING on the connection unless one is on its way (callers share it); resolves with
   * when (performance.now()) it was sent once it is answered, by which time every message Redis
   * sent the connection before it has been handed to its listeners; undefined when it could not
   * be sent or the connection dropped; rejects with Redis' refusal. Behind a backlog of messages
   * (slow listeners) it is answered late.
   */
  probe(): Promise<number | undefined>
}

/**
 * The fleet's pub/sub hub. On Redis it keeps one dedicated subscriber connection per node,
 * opened on first use and shared by every channel placed on that node; on the memory topology
 * it fans out in process with the same semantics.
 */
export interface Subscriber {
  /**
   * Registers `listener` on a full channel name (the caller puts it under the namespace).
   * The channel lives on the node that owns it: the only server (standalone), the ring's node
   * for the name (sharded), or the master of its slot with SSUBSCRIBE (cluster).
   */
  subscribe(channel: string, listener: PayloadListener): ChannelSubscription
  /**
   * Publishes to a full channel name (PUBLISH, or SPUBLISH on the cluster). Messages published
   * through one fleet to one channel reach Redis in call order. Rejects with the client's error
   * (the callers translate and report it); it is not retried, since a retry would reorder it.
   */
  publish(channel: string, payload: string | Uint8Array): Promise<void>
  /** The subscriber connection of one master. Throws ConfigError on the memory topology. */
  node(nodeId: string): NodeSubscriber
  /** Rejects every pending wait with ClosedError and closes every connection it opened. */
  close(): Promise<void>
}
