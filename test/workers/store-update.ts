// Increments one counter field `count` times concurrently with store.update, then exits.
import { createFleet, type FleetOptions } from '../../src/index.ts'

const { options, key, count } = JSON.parse(process.argv[2]!) as {
  options: FleetOptions
  key: string
  count: number
}
const fleet = createFleet(options)
const store = fleet.store<{ hits: number }>()
await Promise.all(
  Array.from({ length: count }, () => store.update(key, (current) => ({ hits: (current?.hits ?? 0) + 1 }))),
)
await fleet.close()
