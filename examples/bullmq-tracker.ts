/**
 * BullMQ + the redfleet tracker: every job a BullMQ worker runs is tracked under this process'
 * instance, and when a process dies mid-job the survivors put its jobs back into the queue,
 * each exactly once, as soon as its heartbeat expires.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/bullmq-tracker.ts
 *
 * BullMQ has its own stalled-job check (a job whose worker stops renewing its lock goes back to
 * wait after `stalledInterval`). Two recovery paths would run a dead worker's job twice, so the
 * worker here sets `maxStalledCount: 0` (BullMQ fails a stalled job instead of retrying it) and
 * the tracker is the one path that re-enqueues it. The requeued copy gets a deterministic id
 * (`<id>-recovered`), so even a requeue repeated after a failure adds it only once.
 */
import { pathToFileURL } from 'node:url'
import { type Job, Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { createFleet, type Fleet, type TrackedJob, type Tracker, type TrackerOptions } from '../src/index.ts'

/** What the tracker keeps for a BullMQ job: enough to enqueue it again. */
export interface BullPayload {
  name: string
  data: unknown
}

export interface TrackedWorkerOptions<R> {
  fleet: Fleet
  /** The queue the worker consumes, and where orphans are put back. */
  queue: Queue
  /** BullMQ's connection: an ioredis instance with `maxRetriesPerRequest: null`. */
  connection: Redis
  processor: (job: Job) => Promise<R>
  concurrency?: number
  /** Tracker options; `requeue` is supplied here, and `recoverEvery` defaults to 5 s. */
  tracker?: Omit<TrackerOptions, 'requeue'>
}

export interface TrackedWorker {
  readonly worker: Worker
  readonly tracker: Tracker
  /** Graceful: waits for active jobs, then stops the tracker (nothing left to recover). */
  close(): Promise<void>
}

/** Puts an orphan back into the queue; a repeated call is a no-op (same job id). */
export async function requeueInto(queue: Queue, orphan: TrackedJob): Promise<void> {
  const { name, data } = orphan.payload as BullPayload
  await queue.add(name, data, { jobId: `${orphan.id}-recovered` })
}

/** A BullMQ worker whose jobs are tracked, plus periodic recovery of other processes' orphans. */
export async function startTrackedWorker<R>(options: TrackedWorkerOptions<R>): Promise<TrackedWorker> {
  const { fleet, queue, connection, processor } = options
  const tracker = fleet.tracker({
    recoverEvery: 5_000,
    ...options.tracker,
    requeue: (orphan) => requeueInto(queue, orphan),
  })
  await tracker.start()
  const worker = new Worker(
    queue.name,
    (job) => {
      const payload: BullPayload = { name: job.name, data: job.data }
      // Recorded before the processor starts, forgotten when it settles; its result or error
      // goes to BullMQ untouched, and a Redis hiccup in the tracker never fails the job.
      return tracker.track(job.id!, payload, () => processor(job))
    },
    {
      connection,
      prefix: queue.opts.prefix,
      concurrency: options.concurrency ?? 1,
      maxStalledCount: 0,
    },
  )
  return {
    worker,
    tracker,
    async close() {
      await worker.close()
      await tracker.stop()
    },
  }
}

/** The demo: one job, a worker that "crashes" in it, and a second worker that gets it back. */
async function demo(url: string): Promise<void> {
  const connection = new Redis(url, { maxRetriesPerRequest: null })
  const queue = new Queue('reports', { connection, prefix: 'demo-bull' })
  const timing = { heartbeatInterval: 200, heartbeatTtl: 1000, recoverEvery: 250 }
  // Two fleets stand in for two processes.
  const fleets = [createFleet({ url, namespace: 'demo-bull' }), createFleet({ url, namespace: 'demo-bull' })]

  let crash!: () => void
  const crashed = new Promise<void>((resolve) => {
    crash = resolve
  })
  const doomed = await startTrackedWorker({
    fleet: fleets[0]!,
    queue,
    connection,
    tracker: { instanceId: 'worker-a', ...timing },
    processor: async (job) => {
      console.log(`worker-a started ${job.name} #${job.id} and is about to die`)
      crash()
      return new Promise<never>(() => {}) // never finishes: its process "dies"
    },
  })
  await queue.add('monthly-report', { month: '2026-11' })
  await crashed
  // What SIGKILL would do: the BullMQ worker vanishes and the heartbeat stops (stop() without
  // releasing jobs leaves them tracked, exactly what a dead process leaves behind).
  await doomed.worker.close(true)
  await doomed.tracker.stop()

  let done!: () => void
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const rescuer = await startTrackedWorker({
    fleet: fleets[1]!,
    queue,
    connection,
    tracker: { instanceId: 'worker-b', ...timing },
    processor: async (job) => {
      console.log(`worker-b ran ${job.name} #${job.id} with ${JSON.stringify(job.data)}`)
      done()
      return 'ok'
    },
  })
  await finished
  await rescuer.close()
  await queue.obliterate({ force: true })
  await queue.close()
  await Promise.all(fleets.map((f) => f.close()))
  connection.disconnect()
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.env.REDIS_URL
  if (!url) {
    console.error('set REDIS_URL (BullMQ needs a real Redis), e.g. REDIS_URL=redis://127.0.0.1:6379')
    process.exit(2)
  }
  await demo(url)
}
