import type { FleetContext } from '../context.ts'
import { FleetCache } from './cache.ts'
import { onMemoryChange } from './memory.ts'
import { NearCache } from './near.ts'
import { assertCacheOptions } from './options.ts'
import { fixedEntryScope, keyBases } from './scope.ts'
import { NearTracking } from './tracking.ts'
import type { Cache, CacheOptions } from './types.ts'

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
  return new FleetCache(ctx, options, { near: nearCache(ctx, options) })
}

function nearCache(ctx: FleetContext, options: CacheOptions): NearCache | undefined {
  if (!options.near) return undefined
  if (ctx.topology === 'memory') {
    // One process, one keyspace: every change goes through a memory backend, which tells us.
    const near = new NearCache(options.near.max, fixedEntryScope(ctx, options))
    near.setOnline(true)
    const stop = onMemoryChange((key) => near.invalidate(key))
    ctx.lifecycle.onClose(() => {
      stop()
      near.setOnline(false)
    })
    return near
  }
  const bases = keyBases(ctx, options)
  let tracking: NearTracking | undefined
  const near: NearCache = new NearCache(options.near.max, fixedEntryScope(ctx, options), () =>
    tracking!.start(),
  )
  tracking = new NearTracking(ctx, near, [bases.entries, bases.tags])
  ctx.nearCaches.add(near)
  return near
}
