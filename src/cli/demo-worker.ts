/**
 * One worker of `redfleet demo`: it joins the fleet's membership, listens on the broker, bills
 * orders from a consumer group, and runs the jobs sent to its inbox under the tracker.
 * Run as a child process (argv[2]: JSON { options, name }), or in-process on the memory topology.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { createFleet, type Fleet, type FleetOptions } from '../index.ts'

/** Tracker timings of the demo: short, so a killed worker's jobs are orphans within ~1 s. */
export const DEMO_TRACKER = { heartbeatInterval: 300, heartbeatTtl: 1200 }

export interface DemoJob {
  id: string
  ms: number
}

/** Runs a worker until `signal` aborts, then leaves cleanly. */
export async function runDemoWorker(
  fleet: Fleet,
  name: string,
  log: (line: string) => void,
  signal: AbortSignal,
) {
  const store = fleet.store()
  const membership = fleet.membership({ ttl: 1500 })
  const tracker = fleet.tracker({ instanceId: name, ...DEMO_TRACKER })
  await tracker.start()

  const broker = fleet.broker({ channel: 'chat' })
  const unsubscribe = broker.subscribe((message) => {
    log(`heard on the broker: ${message}`)
    void store.increment('broker:heard').catch(() => {})
  })
  await broker.ready()
  // Live once it listens: the coordinator broadcasts as soon as every worker is a live member.
  const member = membership.join(name)

  const streams = fleet.streams()
  await streams.ensureGroup('billing')
  const billing = streams.consume(
    'billing',
    name,
    async (delivery) => {
      // Delivery is at least once (a killed worker's unacked orders come again): billing is
      // idempotent, one claim per order, so a redelivered order is never billed twice.
      const order = String(delivery.envelope.order)
      const first = await store.setIfNotExists(`orders:billed:${order}`, name)
      log(first ? `billed order ${order}` : `order ${order} was already billed (redelivered)`)
    },
    { signal, minIdle: 1000 },
  )

  const jobs = (async () => {
    for await (const message of membership.inbox(name, { signal, from: '0' })) {
      const job = message as DemoJob
      void tracker
        .track(job.id, job, async () => {
          log(`started ${job.id}`)
          await sleep(job.ms)
          await store.increment('jobs:done')
          log(`finished ${job.id}`)
        })
        .catch(() => {}) // a job of a worker being killed never finishes: that is the point
    }
  })()

  log('ready')
  await Promise.all([billing, jobs])
  unsubscribe()
  await member.stop()
  await tracker.stop({ releaseJobs: true })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { options, name } = JSON.parse(process.argv[2]!) as { options: FleetOptions; name: string }
  // Its failure is one line on the demo's output, and the demo's own reason says it ended.
  const fleet = createFleet({ ...options, onError: () => {} })
  const stop = new AbortController()
  process.once('SIGTERM', () => stop.abort())
  try {
    await runDemoWorker(fleet, name, (line) => console.log(line), stop.signal)
  } catch (error) {
    console.log(`failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  } finally {
    await fleet.close()
  }
}
