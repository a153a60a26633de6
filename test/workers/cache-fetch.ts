// One "process" of the stampede test: waits until every worker is connected, then fires
// `concurrency` fetches of one cold key at once. The compute counts itself in Redis.
import { setTimeout as sleep } from 'node:timers/promises'
import { createFleet, type FleetOptions } from '../../src/index.ts'

const { options, key, concurrency, workers, computeMs } = JSON.parse(process.argv[2]!) as {
  options: FleetOptions
  key: string
  concurrency: number
  workers: number
  computeMs: number
}
const fleet = createFleet(options)
await fleet.ready()
const cache = fleet.cache({
  errorHandler: ({ exception }) => {
    throw exception
  },
})
const store = fleet.store<number>()

// Barrier: every worker connected before anyone fetches, so the fetches really overlap.
await store.increment(`${key}:ready`)
while (((await store.get(`${key}:ready`)) ?? 0) < workers) await sleep(2)

const values = await Promise.all(
  Array.from({ length: concurrency }, () =>
    cache.fetch(key, async () => {
      await store.increment(`${key}:computes`)
      await sleep(computeMs)
      return { computedBy: process.pid }
    }),
  ),
)
process.stdout.write(JSON.stringify(values))
await fleet.close()
