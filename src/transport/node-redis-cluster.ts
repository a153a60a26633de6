import type { NodeRedisClient } from './node-redis-client.ts'

/** One node of a node-redis cluster's slot map (its `masters`, and each slot's `master`). */
export interface NodeRedisClusterNode {
  /** `host:port` as CLUSTER SLOTS names it. */
  readonly address: string
  /** Its client once the cluster made one (at discovery, unless `minimizeConnections`). */
  readonly client?: NodeRedisClient
}

/**
 * What redfleet uses of a node-redis cluster (`createCluster` of redis / @redis/client 5 or 6),
 * typed here so that compiling redfleet never needs that package. Its slot map is empty until
 * `connect()` has discovered the cluster; it re-reads it itself when a command it sends meets MOVED.
 */
export interface NodeRedisCluster {
  readonly isOpen: boolean
  readonly masters: readonly NodeRedisClusterNode[]
  /** Per slot, the shard that serves it; a hole while the slot map is unknown. */
  readonly slots: readonly ({ readonly master: NodeRedisClusterNode } | undefined)[]
  connect(): Promise<unknown>
  /** Routes by `firstKey`'s slot, following MOVED/ASK (and re-reading the slot map on MOVED). */
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: (string | Buffer)[],
    options?: object,
  ): Promise<unknown>
  /** The node's client, made and connected if it has none yet. */
  nodeClient(node: NodeRedisClusterNode): Promise<NodeRedisClient>
  once(event: 'connect', listener: () => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
  off(event: 'error', listener: (error: unknown) => void): unknown
  /** Closes once what was sent is answered. */
  close(): Promise<unknown>
  /** Closes at once. */
  destroy(): unknown
  /**
   * node-redis' own slot map keeper (5.x and 6.x), not public API: `rediscover(client)` re-reads
   * the slot map starting from that node, as node-redis does itself on MOVED. Absent: nothing forces it.
   */
  readonly _slots?: { rediscover?(startWith: NodeRedisClient): Promise<unknown> }
}
