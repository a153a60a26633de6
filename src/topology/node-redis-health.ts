import type { NodeRedisClient } from '../transport/node-redis-client.ts'
import { NodeRedisEvents } from '../transport/node-redis-events.ts'
import { type HealthRegistry, type NodeHealth, watchConnection } from './health.ts'

/**
 * The health of the nodes behind node-redis clients (a user's client, or the masters' clients of
 * a user's cluster), told by each client's events: NodeRedisEvents puts them in ioredis' words
 * and watchConnection follows them, as for every other connection. A client is followed from the
 * first time it is seen until `forget` or `stop`; it is only listened to, never changed.
 */
export class NodeRedisWatch {
  readonly #registry: HealthRegistry
  readonly #reconnectAttempts: number
  readonly #watched = new Map<NodeRedisClient, NodeRedisEvents>()

  constructor(registry: HealthRegistry, reconnectAttempts: number) {
    this.#registry = registry
    this.#reconnectAttempts = reconnectAttempts
  }

  /** The health of `node`, followed through `client` from now on. */
  of(client: NodeRedisClient, node: string): NodeHealth {
    const health = this.#registry.of(node)
    if (!this.#watched.has(client)) {
      const events = new NodeRedisEvents(client)
      watchConnection(events, health, this.#reconnectAttempts, false)
      this.#watched.set(client, events)
    }
    return health
  }

  /** Stops following the clients that are closed (a cluster's, replaced when its layout changed). */
  forgetClosed(): void {
    for (const [client, events] of this.#watched) {
      if (client.isOpen) continue
      events.stop()
      this.#watched.delete(client)
    }
  }

  /** Stops following every client (the fleet closes; the clients stay the user's). */
  stop(): void {
    for (const events of this.#watched.values()) events.stop()
    this.#watched.clear()
  }
}
