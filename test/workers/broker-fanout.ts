/**
 * One process of the cross-process broker test: subscribes, says it is ready on the control
 * channel, waits for 'go', publishes `count` numbered messages, and waits until it has received
 * every process' messages. Prints what it saw: per publisher, how many arrived and whether
 * each came exactly after the previous one (in order, no gap, no duplicate).
 */
import { createFleet, type FleetOptions } from '../../src/index.ts'

const { options, id, processes, count } = JSON.parse(process.argv[2]!) as {
  options: FleetOptions
  id: string
  processes: number
  count: number
}

const errors: string[] = []
const fleet = createFleet({ ...options, onError: (e) => errors.push(String(e)) })
const data = fleet.broker({ channel: 'data', onError: (e) => errors.push(String(e)) })
const control = fleet.broker({ channel: 'control' })

const seen = new Map<string, { received: number; outOfOrder: number; last: number }>()
let total = 0
const all = new Promise<void>((resolve) => {
  data.subscribe((message) => {
    const [from, seq] = message.split(':') as [string, string]
    const stats = seen.get(from) ?? { received: 0, outOfOrder: 0, last: -1 }
    if (Number(seq) !== stats.last + 1) stats.outOfOrder++
    stats.last = Number(seq)
    stats.received++
    seen.set(from, stats)
    if (++total === processes * count) resolve()
  })
})
const go = new Promise<void>((resolve) => control.subscribe((m) => m === 'go' && resolve()))

await Promise.all([data.ready(), control.ready()])
await control.publish(`ready:${id}`)
await go
const started = performance.now()
await Promise.all(Array.from({ length: count }, (_, i) => data.publish(`${id}:${i}`)))
await all
const elapsed = performance.now() - started
console.log(JSON.stringify({ id, total, elapsed, errors, publishers: Object.fromEntries(seen) }))
await fleet.close()
