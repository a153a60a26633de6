import fc from 'fast-check'
import type { Cache } from '../../src/index.ts'
import { assertSameSteps, forEachParity } from './support.ts'

const key = fc.constantFrom('a', 'b', 'ab', '{t}x', '{t}y')
const value = fc.oneof(
  fc.integer({ min: -100, max: 100 }),
  fc.string({ maxLength: 6 }),
  fc.jsonValue({ maxDepth: 2 }),
)
const version = fc.constantFrom(undefined, 1, '1', 2)
const tags = fc.constantFrom<string[] | undefined>(undefined, ['x'], ['x', 'y'])
const amount = fc.integer({ min: -20, max: 20 })

type Op =
  | {
      kind: 'write'
      key: string
      value: unknown
      version?: number | string
      unlessExist: boolean
      tags?: string[]
    }
  | { kind: 'read' | 'exist'; key: string; version?: number | string }
  | { kind: 'delete' | 'readCounter'; key: string }
  | { kind: 'increment' | 'decrement' | 'writeCounter'; key: string; by: number }
  | { kind: 'readMulti' | 'deleteMulti'; keys: string[] }
  | { kind: 'writeMulti'; entries: [string, unknown][] }
  | { kind: 'deleteMatched'; glob: string }
  | { kind: 'invalidateTag'; tag: string }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), key, value, version, unlessExist: fc.boolean(), tags }),
  fc.record({ kind: fc.constantFrom('read' as const, 'exist' as const), key, version }),
  fc.record({ kind: fc.constantFrom('delete' as const, 'readCounter' as const), key }),
  fc.record({
    kind: fc.constantFrom('increment' as const, 'decrement' as const, 'writeCounter' as const),
    key,
    by: amount,
  }),
  fc.record({
    kind: fc.constantFrom('readMulti' as const, 'deleteMulti' as const),
    keys: fc.uniqueArray(key, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('writeMulti' as const),
    entries: fc.uniqueArray(fc.tuple(key, value), { minLength: 1, maxLength: 3, selector: ([k]) => k }),
  }),
  fc.record({
    kind: fc.constant('deleteMatched' as const),
    glob: fc.constantFrom('*', 'a*', '{t}*', '?', 'a?'),
  }),
  fc.record({ kind: fc.constant('invalidateTag' as const), tag: fc.constantFrom('x', 'y') }),
)

/** Runs one call; what the errorHandler saw during it is part of the result. */
async function apply(cache: Cache, failures: string[], o: Op): Promise<unknown> {
  failures.length = 0
  const result = await call(cache, o).catch((error: Error) => ({ rejected: error.constructor.name }))
  return { result: result instanceof Map ? [...result.entries()] : result, failures: [...failures] }
}

function call(cache: Cache, o: Op): Promise<unknown> {
  switch (o.kind) {
    case 'write':
      return cache.write(o.key, o.value, { version: o.version, unlessExist: o.unlessExist, tags: o.tags })
    case 'read':
      return cache.read(o.key, { version: o.version })
    case 'exist':
      return cache.exist(o.key, { version: o.version })
    case 'delete':
      return cache.delete(o.key)
    case 'readCounter':
      return cache.readCounter(o.key)
    case 'increment':
      return cache.increment(o.key, o.by)
    case 'decrement':
      return cache.decrement(o.key, o.by)
    case 'writeCounter':
      return cache.writeCounter(o.key, o.by)
    case 'readMulti':
      return cache.readMulti(o.keys)
    case 'deleteMulti':
      return cache.deleteMulti(o.keys)
    case 'writeMulti':
      return cache.writeMulti(new Map(o.entries))
    case 'deleteMatched':
      return cache.deleteMatched(o.glob)
    case 'invalidateTag':
      return cache.invalidateTag(o.tag)
  }
}

forEachParity(
  'cache parity',
  'random call sequences give the same results and failures on memory and Redis',
  async (memory, redis) => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        run++
        const sides = [memory, redis].map((fleet) => {
          const failures: string[] = []
          const cache = fleet.cache({
            namespace: `r${run}`,
            errorHandler: ({ method, exception }) =>
              void failures.push(`${method}: ${(exception as Error).constructor.name}`),
          })
          return { cache, failures }
        })
        const [left, right] = sides as [(typeof sides)[0], (typeof sides)[0]]
        await assertSameSteps(
          ops,
          (o) => apply(left.cache, left.failures, o),
          (o) => apply(right.cache, right.failures, o),
        )
      }),
      { numRuns: 30 },
    )
  },
)
