import type { FleetContext } from '../context.ts'
import { FleetCache } from './cache.ts'
import { onMemoryChange } from './memory.ts'
import { NearCache } from './near.ts'
import { assertCacheOptions } from './options.ts'
import { keyBases, nearScopes } from './scope.ts'
import { NearTracking } from './tracking.ts'
import type { Cache, CacheOptions } from './types.ts'

export type { CacheEvent } from './instrument.ts'
export type {
  Cache,
  CacheKey,
  CacheKeyPart,
  CacheOptions,
  CacheStats,
  FetchOptions,
  ReadOptions,
  WriteOptions,
} from './types.ts'

/** `fleet.cache()`: Rails' RedisCacheStore behaviour set on every topology (SPEC §3). */
export function createCache(ctx: FleetContext, options: CacheOptions = {}): Cache {
  assertCacheOptions(options)
  return new FleetCache(ctx, options, { near: nearCache(ctx, options) })
}

function nearCache(ctx: FleetContext, options: CacheOptions): NearCache | undefined {
  if (!options.near) return undefined
  if (ctx.topology === 'memory') {
    // One process, one keyspace: every change goes through a memory backend, which tells us.
    const near = new NearCache(options.near.max, nearScopes(ctx, options))
    near.setOnline(true)
    ctx.nearCaches.add(near)
    ctx.nearCaches.followMemory(onMemoryChange, (cleanup) => ctx.lifecycle.onClose(cleanup))
    return near
  }
  const bases = keyBases(ctx, options)
  const prefixes = [bases.entries, bases.tags]
  const tracking = ctx.nearCaches.trackingOf(prefixes, (unused) => new NearTracking(ctx, prefixes, unused))
  const near = new NearCache(
    options.near.max,
    nearScopes(ctx, options),
    () => tracking.start(),
    ctx.nearCaches.topologyWatch.guard,
  )
  tracking.attach(near)
  ctx.nearCaches.add(near)
  return near
}
