// One worker process of the tracker kill test: tracks `jobs` jobs that run until the process is
// told to stop, and runs `recoverers` recovery trackers (recoverEvery) whose requeue counts each
// requeue in Redis. Prints "ready" once every job is recorded and every recoverer started.
// SIGTERM: graceful exit (recoverers stopped, jobs released, fleet closed, exit 0).
import { createFleet, type FleetOptions } from '../../src/index.ts'

const args = JSON.parse(process.argv[2]!) as {
  options: FleetOptions
  instanceId: string
  jobs: number
  recoverers: number
  heartbeatInterval: number
  heartbeatTtl: number
  recoverEvery: number
}

const fleet = createFleet({ ...args.options, onError: (e, { op }) => console.error(`onError ${op}:`, e) })
const timing = { heartbeatInterval: args.heartbeatInterval, heartbeatTtl: args.heartbeatTtl }
const counts = fleet.store<number>({ prefix: 'requeued:' })

const tracker = fleet.tracker({ instanceId: args.instanceId, ...timing })
await tracker.start()

let finish!: () => void
const running = new Promise<void>((resolve) => {
  finish = resolve
})
let started = 0
let allStarted!: () => void
const recorded = new Promise<void>((resolve) => {
  allStarted = resolve
})
const jobs = Array.from({ length: args.jobs }, (_, n) =>
  tracker.track(`${args.instanceId}/job-${n}`, { n, from: args.instanceId }, async () => {
    // track() records before run: once every body runs, every job is recorded.
    if (++started === args.jobs) allStarted()
    await running
  }),
)
await recorded

const recoverers = Array.from({ length: args.recoverers }, (_, k) =>
  fleet.tracker({
    instanceId: `${args.instanceId}/recoverer-${k}`,
    ...timing,
    recoverEvery: args.recoverEvery,
    requeue: async (job) => {
      await counts.increment(job.id)
      await counts.increment('total')
    },
  }),
)
await Promise.all(recoverers.map((r) => r.start()))
process.stdout.write('ready\n')

process.once('SIGTERM', async () => {
  await Promise.all(recoverers.map((r) => r.stop()))
  await tracker.stop({ releaseJobs: true })
  finish()
  await Promise.all(jobs)
  await fleet.close()
  process.exit(0)
})
// Stay alive until told (the tracker's own timers are unref'd).
setInterval(() => {}, 60_000)
