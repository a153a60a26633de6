/**
 * Peer libraries measured in the same run as redfleet, each on connections of its own, under a
 * key prefix of its own (`<ctx.namespace>:<peer>`), and closed when the scenario is done.
 */
import { createKeyv } from '@keyv/redis'
import { BentoCache, type BentoStore, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import { type Cache as CacheManager, createCache } from 'cache-manager'
import { Redis } from 'ioredis'
import type { Keyv } from 'keyv'
import type { BenchContext } from './lib.ts'

/** Keyv over @keyv/redis (node-redis), as its README sets it up. */
export function keyvRedis(ctx: BenchContext, peer: string): Keyv {
  const keyv = createKeyv(ctx.url, { namespace: `${ctx.namespace}:${peer}` })
  ctx.onClose(() => keyv.disconnect())
  return keyv
}

/** cache-manager 7 with one store: Keyv over @keyv/redis. */
export function cacheManager(ctx: BenchContext): CacheManager {
  return createCache({ stores: [keyvRedis(ctx, 'cache-manager')] })
}

/**
 * bentocache with Redis (ioredis) as its only tier, or, with `near`, a memory tier in front
 * (as many items as redfleet's near cache) kept coherent by its Redis bus.
 */
export function bentocache(ctx: BenchContext, near: boolean): BentoCache<{ bench: BentoStore }> {
  const connection = new Redis(ctx.url)
  const store = bentostore({ prefix: `${ctx.namespace}:bentocache${near ? '-near' : ''}` })
  if (near) store.useL1Layer(memoryDriver({ maxItems: 10_000 }))
  store.useL2Layer(redisDriver({ connection }))
  // The bus duplicates `connection`; bentocache closes both duplicates and the connection.
  if (near) store.useBus(redisBusDriver({ connection }))
  const bento = new BentoCache({ default: 'bench', stores: { bench: store } })
  ctx.onClose(() => bento.disconnectAll())
  return bento
}
