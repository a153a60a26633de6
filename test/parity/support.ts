/**
 * What every parity property shares: a memory fleet and a Redis fleet per Redis topology (quiet,
 * in namespaces of their own, closed when the suite ends), and the step-by-step comparison.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { createFleet, type Fleet } from '../../src/index.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

/** Registers `property` once per Redis topology, with a memory fleet and a fleet on that topology. */
export function forEachParity(
  title: string,
  name: string,
  property: (memory: Fleet, redis: Fleet) => Promise<void>,
): void {
  for (const topology of ['standalone', 'sharded', 'cluster'] as const) {
    describe(`${title}: memory and ${topology}`, () => {
      const fleets: Fleet[] = []
      after(() => Promise.all(fleets.map((fleet) => fleet.close())))
      test(name, async () => {
        const memory = createFleet({ namespace: uniqueNamespace('parity'), onError: () => {} })
        const redis = createFleet({
          namespace: uniqueNamespace('parity'),
          onError: () => {},
          ...(await topologyOptions(topology)),
        })
        fleets.push(memory, redis)
        await property(memory, redis)
      })
    })
  }
}

/** Applies each step on both sides in turn; every result must be the same. */
export async function assertSameSteps<O>(
  ops: readonly O[],
  expected: (o: O) => Promise<unknown>,
  actual: (o: O) => Promise<unknown>,
): Promise<void> {
  for (const [i, o] of ops.entries()) {
    const want = await expected(o)
    assert.deepStrictEqual(await actual(o), want, `step ${i} ${JSON.stringify(o)}`)
  }
}
