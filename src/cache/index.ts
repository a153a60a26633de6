import type { FleetContext } from '../context.ts'
import { assertCacheOptions, FleetCache } from './cache.ts'
import type { Cache, CacheOptions } from './types.ts'
import { PubSubWaker } from './waker.ts'

export type { CacheEvent } from './instrument.ts'
export type {
  Cache,
  CacheKey,
  CacheOptions,
  CacheStats,
  FetchOptions,
  ReadOptions,
  WriteOptions,
} from './types.ts'

/** `fleet.cache()`: Rails' RedisCacheStore behaviour set on every topology (SPEC §3). */
export function createCache(ctx: FleetContext, options: CacheOptions = {}): Cache {
  assertCacheOptions(options)
  // Fill notifications: one channel per fleet namespace, subscribed on the first wait.
  const waker = new PubSubWaker(() => ctx.subscriber(), ctx.keys.key('cache~fill'), ctx.lifecycle)
  return new FleetCache(ctx, options, { waker })
}
