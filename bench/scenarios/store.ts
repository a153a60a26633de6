import { nodeRedis5Fleet, perClient } from '../clients.ts'
import { type BenchContext, rawGetMany, type Scenario } from '../lib.ts'
import { keyvRedis } from '../peers.ts'

const KEYS = 1000
const value = { id: 42, name: 'redfleet', tags: ['a', 'b', 'c'], nested: { ok: true, score: 12.5 } }
const text = JSON.stringify(value)
const keyOf = (i: number) => `k${i % KEYS}`

/** Seeds KEYS entries both ways, so reads hit on both sides. */
async function seed(
  ctx: Parameters<
    Scenario extends infer S ? (S extends { variants: infer V } ? V[keyof V] : never) : never
  >[0],
) {
  const store = ctx.fleet.store()
  await store.setMany(Array.from({ length: KEYS }, (_, i): [string, unknown] => [keyOf(i), value]))
  await ctx.raw.mset(...Array.from({ length: KEYS }, (_, i) => [`${ctx.namespace}:${keyOf(i)}`, text]).flat())
}

/** Keyv over @keyv/redis with KEYS entries. */
async function seededKeyv(ctx: BenchContext) {
  const keyv = keyvRedis(ctx, 'keyv')
  await keyv.setMany(Array.from({ length: KEYS }, (_, i) => ({ key: keyOf(i), value })))
  return keyv
}

/**
 * 256 windows of 100 keys of their own: call `i` reads window `i % 256`, so the 256 callers of
 * `c=256` read keys no other caller reads at that moment (what `store getMany(100)`'s callers,
 * all reading the same 100 keys, do not).
 */
const WINDOWS = Array.from({ length: 256 }, (_, w) =>
  Array.from({ length: 100 }, (_, n) => `w${w * 100 + n}`),
)

async function seedWindows(ctx: BenchContext): Promise<void> {
  const names = WINDOWS.flat()
  await ctx.fleet.store().setMany(names.map((name): [string, unknown] => [name, value]))
  await ctx.raw.mset(...names.flatMap((name) => [`${ctx.namespace}:${name}`, text]))
}

export const scenarios: Scenario[] = [
  {
    name: 'store get',
    concurrency: [1, 256],
    variants: {
      ...perClient(async (client, ctx) => {
        await seed(ctx)
        return async (i) => JSON.parse((await client.get(`${ctx.namespace}:${keyOf(i)}`))!)
      }),
      redfleet: async (ctx) => {
        const store = ctx.fleet.store()
        return (i) => store.get(keyOf(i))
      },
      'redfleet on node-redis 5': async (ctx) => {
        const store = (await nodeRedis5Fleet(ctx)).store()
        return (i) => store.get(keyOf(i))
      },
      'keyv+@keyv/redis': async (ctx) => {
        const keyv = await seededKeyv(ctx)
        return (i) => keyv.get(keyOf(i))
      },
    },
  },
  {
    name: 'store set',
    concurrency: [1, 256],
    variants: {
      ...perClient(
        async (client, ctx) => (i) => client.set(`${ctx.namespace}:${keyOf(i)}`, JSON.stringify(value)),
      ),
      redfleet: async (ctx) => {
        const store = ctx.fleet.store()
        return (i) => store.set(keyOf(i), value)
      },
      'redfleet on node-redis 5': async (ctx) => {
        const store = (await nodeRedis5Fleet(ctx)).store()
        return (i) => store.set(keyOf(i), value)
      },
      'keyv+@keyv/redis': async (ctx) => {
        const keyv = keyvRedis(ctx, 'keyv')
        return (i) => keyv.set(keyOf(i), value)
      },
    },
  },
  {
    name: 'store getMany(100)',
    concurrency: [1, 256],
    variants: {
      ...perClient(async (client, ctx) => {
        await seed(ctx)
        return rawGetMany(
          client,
          `${ctx.namespace}:`,
          Array.from({ length: 100 }, (_, i) => keyOf(i)),
        )
      }),
      redfleet: async (ctx) => {
        const store = ctx.fleet.store()
        const keys = Array.from({ length: 100 }, (_, i) => keyOf(i))
        return () => store.getMany(keys)
      },
      'redfleet on node-redis 5': async (ctx) => {
        const store = (await nodeRedis5Fleet(ctx)).store()
        const keys = Array.from({ length: 100 }, (_, i) => keyOf(i))
        return () => store.getMany(keys)
      },
      'keyv+@keyv/redis': async (ctx) => {
        const keyv = await seededKeyv(ctx)
        const keys = Array.from({ length: 100 }, (_, i) => keyOf(i))
        return () => keyv.getMany(keys)
      },
    },
  },
  {
    name: 'store getMany(100), a window per caller',
    concurrency: [256],
    variants: {
      ...perClient(async (client, ctx) => {
        await seedWindows(ctx)
        return async (i) => {
          const keys = WINDOWS[i % 256]!.map((name) => `${ctx.namespace}:${name}`)
          return (await client.mget(keys)).map((text) => (text === null ? undefined : JSON.parse(text)))
        }
      }),
      redfleet: async (ctx) => {
        const store = ctx.fleet.store()
        return (i) => store.getMany(WINDOWS[i % 256]!)
      },
      'redfleet on node-redis 5': async (ctx) => {
        const store = (await nodeRedis5Fleet(ctx)).store()
        return (i) => store.getMany(WINDOWS[i % 256]!)
      },
    },
  },
  {
    name: 'store increment',
    concurrency: [1, 256],
    variants: {
      ...perClient(async (client, ctx) => (i) => client.call(['INCRBY', `${ctx.namespace}:n${i % 100}`, 1])),
      redfleet: async (ctx) => {
        const store = ctx.fleet.store()
        return (i) => store.increment(`n${i % 100}`)
      },
    },
  },
  {
    // Claims of keys already held after the first pass: the common answer of a claim (false).
    name: 'store setIfNotExists',
    concurrency: [1, 256],
    variants: {
      'raw ioredis': async (ctx) => async (i) =>
        ctx.raw.set(`${ctx.namespace}:c${i % KEYS}`, JSON.stringify(value), 'PX', 60_000, 'NX'),
      redfleet: async (ctx) => {
        const store = ctx.fleet.store()
        return (i) => store.setIfNotExists(`c${i % KEYS}`, value, { ttl: 60_000 })
      },
    },
  },
  {
    // Raw equivalent of one uncontended update: GET, then a compare-and-set script.
    name: 'store update',
    concurrency: [1, 256],
    variants: {
      'raw ioredis': async (ctx) => {
        const cas = `local c = redis.call('GET', KEYS[1]) if c == ARGV[1] or (not c and ARGV[1] == '') then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0`
        return async (i) => {
          const key = `${ctx.namespace}:u${i % KEYS}`
          const before = await ctx.raw.get(key)
          const next = JSON.stringify({ n: (before ? JSON.parse(before).n : 0) + 1 })
          return ctx.raw.eval(cas, 1, key, before ?? '', next)
        }
      },
      redfleet: async (ctx) => {
        const store = ctx.fleet.store<{ n: number }>()
        return (i) => store.update(`u${i % KEYS}`, (c) => ({ n: (c?.n ?? 0) + 1 }))
      },
    },
  },
]
