import fc from 'fast-check'
import type { Store } from '../../src/index.ts'
import { assertSameSteps, forEachParity } from './support.ts'

/** Few keys, two sharing a hash tag: operations collide, multi-key calls cross nodes. */
const key = fc.constantFrom('a', 'b', 'c', '{t}x', '{t}y')
/** JSON values, numbers included so that increment meets both counters and documents. */
const value = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(0.5, -2.25, 1e-3),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => !Object.is(v, -0)),
)
const by = fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constantFrom(0.5, -1.25, 3.75))

type Op =
  | { kind: 'set' | 'setIfNotExists'; key: string; value: unknown }
  | { kind: 'get' | 'delete'; key: string }
  | { kind: 'increment'; key: string; by: number }
  | { kind: 'update'; key: string; value: unknown; remove: boolean }
  | { kind: 'getMany'; keys: string[] }
  | { kind: 'setMany'; entries: [string, unknown][] }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('set' as const, 'setIfNotExists' as const), key, value }),
  fc.record({ kind: fc.constantFrom('get' as const, 'delete' as const), key }),
  fc.record({ kind: fc.constant('increment' as const), key, by }),
  fc.record({ kind: fc.constant('update' as const), key, value, remove: fc.boolean() }),
  fc.record({ kind: fc.constant('getMany' as const), keys: fc.array(key, { maxLength: 5 }) }),
  fc.record({
    kind: fc.constant('setMany' as const),
    entries: fc.array(fc.tuple(key, value), { maxLength: 4 }),
  }),
)

/** Runs one operation; an error becomes its class and code, so both sides compare alike. */
async function apply(store: Store<unknown>, o: Op): Promise<unknown> {
  try {
    switch (o.kind) {
      case 'set':
        return await store.set(o.key, o.value)
      case 'setIfNotExists':
        return await store.setIfNotExists(o.key, o.value)
      case 'get':
        return await store.get(o.key)
      case 'delete':
        return await store.delete(o.key)
      case 'increment':
        return await store.increment(o.key, o.by)
      case 'update':
        return await store.update(o.key, (current) =>
          o.remove ? undefined : { was: current ?? null, now: o.value },
        )
      case 'getMany':
        return await store.getMany(o.keys)
      case 'setMany': {
        // The last write of a key wins on both sides; duplicate keys in one call are allowed.
        return await store.setMany(o.entries)
      }
    }
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as { code?: string }).code }
  }
}

/** Found by this property: INCRBYFLOAT stores 4.001 where a double sum gives 4.0009999999999994. */
const fractionalCounter: Op[] = [
  { kind: 'setMany', entries: [['c', 0.001]] },
  { kind: 'increment', key: 'c', by: 1 },
  { kind: 'increment', key: 'c', by: 3 },
  { kind: 'get', key: 'c' },
]

/** Found by this property: ioredis 6 decoded INCRBY's 9007199254740949 as ...948. */
const counterNearTheEdge: Op[] = [
  { kind: 'setMany', entries: [['b', 9007199254740940]] },
  { kind: 'increment', key: 'b', by: 9 },
  { kind: 'increment', key: 'b', by: 50 },
  { kind: 'get', key: 'b' },
]

/** Found by this property: past 2^53 a fractional step rounds differently (long double vs exact decimals). */
const fractionPastTheEdge: Op[] = [
  { kind: 'setMany', entries: [['y', 4611686018427388000]] },
  { kind: 'increment', key: 'y', by: -1.25 },
  { kind: 'get', key: 'y' },
]

forEachParity(
  'store parity',
  'random operation sequences give the same results on memory and Redis',
  async (memory, redis) => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        // Each run starts from empty keys: a prefix of its own.
        run++
        const left = memory.store({ prefix: `r${run}:` })
        const right = redis.store({ prefix: `r${run}:` })
        await assertSameSteps(
          ops,
          (o) => apply(left, o),
          (o) => apply(right, o),
        )
      }),
      { numRuns: 40, examples: [[fractionalCounter], [counterNearTheEdge], [fractionPastTheEdge]] },
    )
  },
)
