/**
 * Stampede protection across processes: 4 worker processes x 50 concurrent `fetch` of one cold
 * key. In-process single-flight leaves one fill per process; the fleet-wide fill lock leaves one
 * compute in the fleet, and the other processes are woken by the fill notification and read it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { runWorker } from '../harness/processes.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

for (const topology of ['standalone', 'sharded', 'cluster'] as const) {
  test(`[${topology}] 200 concurrent fetches of one cold key across 4 processes compute exactly once`, async () => {
    const options = { ...(await topologyOptions(topology)), namespace: uniqueNamespace('stampede') }
    const key = 'cold-key'
    const args = { options, key, concurrency: 50, workers: 4, computeMs: 200 }
    const outputs = await Promise.all([1, 2, 3, 4].map(() => runWorker('cache-fetch.ts', args)))
    const values = outputs.flatMap((out) => JSON.parse(out) as { computedBy: number }[])
    assert.equal(values.length, 200)
    const fleet = createFleet(options)
    try {
      assert.equal(await fleet.store().get(`${key}:computes`), 1, 'the compute ran once in the whole fleet')
      const computedBy = values[0]!.computedBy
      assert.ok(
        values.every((v) => v.computedBy === computedBy),
        'all 200 callers got the value of that one compute',
      )
    } finally {
      await fleet.close()
    }
  })
}
