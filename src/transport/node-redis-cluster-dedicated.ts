import { isRedirection } from '../loops.ts'
import type { NodeRedisClient } from './node-redis-client.ts'
import { NodeRedisDedicated } from './node-redis-dedicated.ts'

/**
 * A dedicated connection to one master of a node-redis cluster. It says 'moved' (ioredis' word,
 * which the subscriber hub re-places its sharded channels on) when a slot it holds a sharded
 * channel of moved away: Redis pushed SUNSUBSCRIBE (node-redis' 'sharded-channel-moved'), or
 * answered an SSUBSCRIBE with MOVED. `relocate` first re-reads the slot map, so that the hub
 * finds the channel's new master.
 */
export class NodeRedisClusterDedicated extends NodeRedisDedicated {
  readonly #moved: () => void

  constructor(template: NodeRedisClient, relocate: () => Promise<void>) {
    super(template)
    // A failed re-read still says 'moved': the hub re-places the channels on the map it has.
    this.#moved = () =>
      void relocate()
        .catch(() => undefined)
        .then(() => this.emit('moved'))
  }

  /** The client of each connection (the template is never connected). */
  protected override watch(client: NodeRedisClient): void {
    client.on('sharded-channel-moved', this.#moved)
  }

  override async ssubscribe(...channels: string[]): Promise<unknown> {
    try {
      return await super.ssubscribe(...channels)
    } catch (error) {
      if (isRedirection(error)) this.#moved()
      throw error
    }
  }
}
