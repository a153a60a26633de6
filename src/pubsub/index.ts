import type { RedisTopology, TopologyKind } from '../topology/types.ts'
import { MemorySubscriber, processBus } from './memory.ts'
import { RedisSubscriber } from './redis.ts'
import type { ErrorSink } from './report.ts'
import type { Subscriber } from './types.ts'

export type {
  ChannelSubscription,
  NodeState,
  NodeSubscriber,
  PayloadListener,
  RawListener,
  RawPayload,
  Subscriber,
} from './types.ts'

/** What a fleet passes to make its Subscriber. */
export interface SubscriberOptions {
  topology: TopologyKind
  /** The fleet's Redis topology; only called on a Redis topology, and only on first use. */
  redis(): Promise<RedisTopology>
  connectTimeout: number
  openingLimit: number
  onError: ErrorSink
}

/**
 * The fleet's one Subscriber: in-process fan-out on the memory topology (shared by every
 * memory fleet of the process), dedicated subscriber connections per node otherwise.
 * Creating it does no I/O.
 */
export function createSubscriber(options: SubscriberOptions): Subscriber {
  if (options.topology === 'memory') return new MemorySubscriber(processBus, options.onError)
  return new RedisSubscriber(options)
}
