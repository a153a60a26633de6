import type { SetCommand } from './tick-batch.ts'
import type { Client, RedisTopology } from './types.ts'

/**
 * The fleet's hold on its topology (FleetContext.redisHandle), shared by every primitive's
 * backend. The topology is built on first use, asynchronously (that is when ioredis is imported
 * and the connections are made); after that it is handed out without an await, because every
 * command of a hot path (a cache read, a store get, a publish) goes through here and each extra
 * promise hop costs throughput at high concurrency. Shared, a backend made after the topology is
 * built sends its first commands at once, as the others do, which per-key call order across the
 * fleet's primitive objects relies on.
 */
export class TopologyHandle {
  #topology: RedisTopology | undefined
  readonly #connect: () => Promise<RedisTopology>

  constructor(connect: () => Promise<RedisTopology>) {
    this.#connect = connect
  }

  /** The topology if it is built already. */
  get current(): RedisTopology | undefined {
    return this.#topology
  }

  /** The topology, built on the first call. */
  get(): RedisTopology | Promise<RedisTopology> {
    return this.#topology ?? this.#connect().then((topology) => (this.#topology = topology))
  }

  /** The client that serves `key`. */
  client(key: string): Client | Promise<Client> {
    return (
      this.#topology?.client(key) ?? (this.get() as Promise<RedisTopology>).then((built) => built.client(key))
    )
  }

  /** GET of `key` (see RedisTopology.get), without an extra hop once built. */
  read(key: string): Promise<string | null> {
    const topology = this.#topology
    if (topology) return topology.get(key)
    return (this.get() as Promise<RedisTopology>).then((built) => built.get(key))
  }

  /** SET of `key` (see RedisTopology.set), without an extra hop once built. */
  write(key: string, command: SetCommand): Promise<string | null> {
    const topology = this.#topology
    if (topology) return topology.set(key, command)
    return (this.get() as Promise<RedisTopology>).then((built) => built.set(key, command))
  }

  /** Runs one command on the client that serves `key`, without an extra hop once built. */
  run<T>(key: string, command: (client: Client) => Promise<T>): Promise<T> {
    const topology = this.#topology
    if (topology) return command(topology.client(key))
    return (this.get() as Promise<RedisTopology>).then((built) => command(built.client(key)))
  }
}
