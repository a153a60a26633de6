import type { ConnectionError } from '../errors.ts'
import type {
  CommandConnection,
  CommandPipeline,
  Connectable,
  DedicatedConnection,
} from '../transport/types.ts'
import type { SetCommand } from './tick-batch.ts'

/** Whether a multi-node call's commands may change Redis ('write') or only read it. */
export type Access = 'read' | 'write'

export type TopologyKind = 'memory' | 'standalone' | 'sharded' | 'cluster'

/** A connection that can run any command: one node's Redis, or a Cluster that routes by slot. */
export type Client = CommandConnection

/** Keys that fit in one multi-key command: one node on the ring, one slot on the cluster. */
export interface KeyBatch {
  /** Identity of the node that serves the batch; batches with the same node share a pipeline. */
  readonly node: string
  /**
   * Which of the node's command connections serves the batch (`pool.size` > 1; else 0). A key's
   * commands always go on one connection, the only way Redis keeps their order (SPEC §2).
   */
  readonly lane: number
  readonly keys: string[]
  /** Position of each key in the caller's input, so results can be put back in order. */
  readonly indexes: number[]
}

/** One master of the topology, for commands that must visit every node (SCAN, INFO). */
export interface MasterNode {
  readonly id: string
  readonly client: CommandConnection & Connectable
}

/**
 * The one place that knows where a key lives and how to reach it. Primitives never pick a
 * node themselves: they ask for the client of a key, or for batches of keys, or for a
 * pipeline per node.
 */
export interface RedisTopology {
  readonly kind: Exclude<TopologyKind, 'memory'>
  /**
   * Every key's commands go on one connection (standalone with a pool of one): a multi-key
   * command needs no split, its one reply is in the caller's order, and it leaves at once.
   */
  readonly oneConnection: boolean
  /**
   * Commands written on a connection are applied in the order written, so a multi-key call lets
   * later calls on its keys go once its commands are written (KeyOrder). False on a cluster: a
   * command refused for its slot's migration (ASK, TRYAGAIN) is sent again once its pipeline's
   * replies are in, after a later call's command on the same key, which the cluster client
   * followed at once (helper-302: the older value kept). There it holds them until the replies
   * of its attempt are in (inOrderOf).
   */
  readonly inOrderOnceWritten: boolean
  /** Connects every node and PINGs it; rejects with ConnectionError naming the node. */
  ready(): Promise<void>
  /** Closes every connection this topology opened (never an injected client). */
  close(): Promise<void>
  /** The client to send a single-key command (or a script whose keys share a slot) to. */
  client(key: string): Client
  /**
   * GET of one key. On a server of its own (standalone, the ring) the GETs of one tick go out as
   * one step, before any command made after them (src/topology/tick-batch.ts).
   */
  get(key: string): Promise<string | null>
  /** SET of one key with its TTL and NX: 'OK', or null when NX found the key. Batched as `get`. */
  set(key: string, command: SetCommand): Promise<string | null>
  /**
   * MGET of keys that share a connection (the keys of one batch; any keys with `oneConnection`),
   * never none; the reply in their order. On a server of its own the multi-key reads of one tick
   * go out as one MGET, calls asking for the same keys sharing them (src/topology/tick-batch.ts).
   */
  getMany(keys: readonly string[]): Promise<(string | null)[]>
  /**
   * Splits keys into batches that never span nodes (ring) or slots (cluster), nor a node's
   * connections (`lane`).
   */
  batches(keys: readonly string[]): Promise<KeyBatch[]>
  /**
   * Runs one pipeline per node and lane: `build` adds the commands of one batch. Returns, per batch and
   * in batch order, the replies of the commands it added. A failed command rejects the whole call.
   * `access` 'read': the commands change nothing, so a failure is told as it is, whatever the other
   * parts did (a write's is 'unknown' once another part was sent: everyPart).
   */
  pipeline(
    batches: readonly KeyBatch[],
    build: (pipe: CommandPipeline, batch: KeyBatch) => void,
    access?: Access,
  ): Promise<unknown[][]>
  /** The client that serves a batch (its node on the ring; the routing Cluster client). */
  batchClient(batch: KeyBatch): Client
  /** Every master, each with one of this topology's command connections. */
  masters(): Promise<MasterNode[]>
  /**
   * A new connection of its own to one master, by MasterNode id (for blocking reads and
   * subscriptions), without a command timeout. The caller owns it and must `disconnect()` it.
   */
  dedicatedToNode(nodeId: string): Promise<DedicatedConnection>
  /**
   * The MasterNode id that serves `key` now as this client knows it (no I/O), or undefined when
   * it does not know (a cluster without a slot map yet, or a slot no master serves).
   */
  nodeOf(key: string): string | undefined
  /** Cluster: a copy of the master of every slot as the client knows it; undefined elsewhere. */
  slotOwners(): (string | undefined)[] | undefined
  /**
   * Calls `listener` whenever the client may have learnt of a change of where keys live (a
   * cluster's slot map reloaded, a node added or removed). Returns a function that stops it.
   */
  onLayoutChange(listener: () => void): () => void
  /** Cluster: reloads the slot map now (CLUSTER SLOTS); elsewhere nothing to do. Never rejects. */
  refreshLayout(): Promise<void>
  /**
   * Cluster: asks a master for CLUSTER SLOTS on its connection and reloads the slot map only if it
   * differs from the client's, or could not be read (refreshLayout opens a connection each time);
   * elsewhere nothing to do. Never rejects.
   */
  checkLayout(): Promise<void>
  /**
   * A reply said a slot moved (MOVED) that the client did not follow (a pipeline's, on
   * ioredis): the slot map is re-read now, and multi-key calls group their keys after it, so a
   * retry goes where the slot went. No-op where the client follows MOVED itself. Returns what
   * the MOVED means when the master it names has no connection (a dead master's slots bounced
   * between the others): a ConnectionError naming that master, to be told instead of the reply.
   */
  slotMoved(error: unknown): ConnectionError | undefined
  /**
   * A command timed out. On a cluster its master may be frozen and its slots taken over by a
   * replica, which the client learns from no MOVED and no lost connection: the slot map is
   * re-read in the background, at most once per interval. Elsewhere nothing to do.
   */
  doubtLayout(): void
}
