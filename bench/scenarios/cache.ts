import type { Cache, Fleet } from '../../src/index.ts'
import { nodeRedis5Fleet, perClient, type RawClient } from '../clients.ts'
import { type BenchContext, rawGetMany, type Scenario } from '../lib.ts'
import { bentocache, cacheManager } from '../peers.ts'

const KEYS = 1000
const value = { id: 42, name: 'redfleet', tags: ['a', 'b', 'c'], nested: { ok: true, score: 12.5 } }
const text = JSON.stringify(value)
const keyOf = (i: number) => `k${i % KEYS}`
const rawKey = (ctx: BenchContext, i: number) => `${ctx.namespace}:cache:${keyOf(i)}`

async function seedRaw(ctx: BenchContext): Promise<void> {
  await ctx.raw.mset(...Array.from({ length: KEYS }, (_, i) => [rawKey(ctx, i), text]).flat())
}

/** GET and JSON.parse of a seeded key: a cache read hit done by hand. */
const rawReads = perClient(async (client: RawClient, ctx) => {
  await seedRaw(ctx)
  return async (i) => JSON.parse((await client.get(rawKey(ctx, i)))!)
})

/** A cache with KEYS entries; with `near`, read until the near cache answers every one of them. */
async function seededCache(ctx: BenchContext, near: boolean, fleet: Fleet = ctx.fleet): Promise<Cache> {
  const cache = fleet.cache({
    namespace: near ? 'near' : 'plain',
    ...(near ? { near: { max: 10_000 } } : {}),
  })
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i))
  await cache.writeMulti(Object.fromEntries(keys.map((k) => [k, value])))
  if (near) {
    const deadline = Date.now() + 10_000
    for (;;) {
      const before = cache.stats().nearHits
      await cache.readMulti(keys)
      if (cache.stats().nearHits - before === KEYS) break
      if (Date.now() > deadline) throw new Error('the near cache did not come online')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  return cache
}

/** cache-manager over @keyv/redis with KEYS entries. */
async function seededCacheManager(ctx: BenchContext) {
  const cache = cacheManager(ctx)
  await cache.mset(Array.from({ length: KEYS }, (_, i) => ({ key: keyOf(i), value })))
  return cache
}

/** bentocache with KEYS entries (in its memory tier too, with `near`). */
async function seededBento(ctx: BenchContext, near: boolean) {
  const bento = bentocache(ctx, near)
  await Promise.all(Array.from({ length: KEYS }, (_, i) => bento.set({ key: keyOf(i), value })))
  return bento
}

/** The plain (not near) cache on a fleet made from a node-redis 5 client. */
async function nodeRedisCache(ctx: BenchContext): Promise<Cache> {
  return seededCache(ctx, false, await nodeRedis5Fleet(ctx))
}

const reads = (near: boolean) => async (ctx: BenchContext) => {
  const cache = await seededCache(ctx, near)
  return (i: number) => cache.read(keyOf(i))
}

const bentoReads = (near: boolean) => async (ctx: BenchContext) => {
  const bento = await seededBento(ctx, near)
  return (i: number) => bento.get({ key: keyOf(i) })
}

const bentoFetches = (near: boolean) => async (ctx: BenchContext) => {
  const bento = await seededBento(ctx, near)
  return (i: number) => bento.getOrSet({ key: keyOf(i), factory: () => value })
}

const readMulti = (near: boolean) => async (ctx: BenchContext) => {
  const cache = await seededCache(ctx, near)
  const keys = Array.from({ length: 100 }, (_, i) => keyOf(i))
  return () => cache.readMulti(keys)
}

export const scenarios: Scenario[] = [
  {
    name: 'cache read hit',
    concurrency: [1, 256],
    variants: {
      ...rawReads,
      redfleet: reads(false),
      'redfleet near': reads(true),
      'redfleet on node-redis 5': async (ctx) => {
        const cache = await nodeRedisCache(ctx)
        return (i) => cache.read(keyOf(i))
      },
      'cache-manager+@keyv/redis': async (ctx) => {
        const cache = await seededCacheManager(ctx)
        return (i) => cache.get(keyOf(i))
      },
      bentocache: bentoReads(false),
      'bentocache L1+L2': bentoReads(true),
    },
  },
  {
    name: 'cache read miss',
    concurrency: [1, 256],
    variants: {
      ...perClient(async (client, ctx) => async (i) => {
        const got = await client.get(`${ctx.namespace}:missing:${i % KEYS}`)
        return got === null ? undefined : JSON.parse(got)
      }),
      redfleet: async (ctx) => {
        const cache = ctx.fleet.cache({ namespace: 'miss' })
        return (i) => cache.read(`missing:${i % KEYS}`)
      },
      'cache-manager+@keyv/redis': async (ctx) => {
        const cache = cacheManager(ctx)
        return (i) => cache.get(`missing:${i % KEYS}`)
      },
      bentocache: async (ctx) => {
        const bento = bentocache(ctx, false)
        return (i) => bento.get({ key: `missing:${i % KEYS}` })
      },
    },
  },
  {
    name: 'cache write',
    concurrency: [1, 256],
    variants: {
      ...perClient(async (client, ctx) => (i) => client.set(rawKey(ctx, i), JSON.stringify(value))),
      redfleet: async (ctx) => {
        const cache = ctx.fleet.cache({ namespace: 'write' })
        return (i) => cache.write(keyOf(i), value)
      },
      'redfleet near': async (ctx) => {
        const cache = ctx.fleet.cache({ namespace: 'write-near', near: { max: 10_000 } })
        return (i) => cache.write(keyOf(i), value)
      },
      'redfleet on node-redis 5': async (ctx) => {
        const cache = (await nodeRedis5Fleet(ctx)).cache({ namespace: 'write' })
        return (i) => cache.write(keyOf(i), value)
      },
      'cache-manager+@keyv/redis': async (ctx) => {
        const cache = cacheManager(ctx)
        return (i) => cache.set(keyOf(i), value)
      },
      bentocache: async (ctx) => {
        const bento = bentocache(ctx, false)
        return (i) => bento.set({ key: keyOf(i), value })
      },
    },
  },
  {
    name: 'cache fetch hit',
    concurrency: [1, 256],
    variants: {
      ...perClient(async (client, ctx) => {
        await seedRaw(ctx)
        return async (i) => {
          const got = await client.get(rawKey(ctx, i))
          return got === null ? value : JSON.parse(got)
        }
      }),
      redfleet: async (ctx) => {
        const cache = await seededCache(ctx, false)
        return (i) => cache.fetch(keyOf(i), () => value)
      },
      'redfleet near': async (ctx) => {
        const cache = await seededCache(ctx, true)
        return (i) => cache.fetch(keyOf(i), () => value)
      },
      'cache-manager+@keyv/redis': async (ctx) => {
        const cache = await seededCacheManager(ctx)
        return (i) => cache.wrap(keyOf(i), () => value)
      },
      bentocache: bentoFetches(false),
      'bentocache L1+L2': bentoFetches(true),
    },
  },
  {
    name: 'cache readMulti(100)',
    concurrency: [1, 256],
    variants: {
      ...perClient(async (client, ctx) => {
        await seedRaw(ctx)
        return rawGetMany(
          client,
          `${ctx.namespace}:cache:`,
          Array.from({ length: 100 }, (_, i) => keyOf(i)),
        )
      }),
      redfleet: readMulti(false),
      'redfleet near': readMulti(true),
      'redfleet on node-redis 5': async (ctx) => {
        const cache = await nodeRedisCache(ctx)
        const keys = Array.from({ length: 100 }, (_, i) => keyOf(i))
        return () => cache.readMulti(keys)
      },
      // bentocache has no multi-key read.
      'cache-manager+@keyv/redis': async (ctx) => {
        const cache = await seededCacheManager(ctx)
        const keys = Array.from({ length: 100 }, (_, i) => keyOf(i))
        return () => cache.mget(keys)
      },
    },
  },
]
