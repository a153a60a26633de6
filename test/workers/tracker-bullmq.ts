// A BullMQ worker process built with examples/bullmq-tracker.ts whose processor never finishes:
// it prints "started <jobId>" and waits to be killed (the BullMQ example test SIGKILLs it).
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { startTrackedWorker } from '../../examples/bullmq-tracker.ts'
import { createFleet } from '../../src/index.ts'

const args = JSON.parse(process.argv[2]!) as {
  url: string
  namespace: string
  queue: string
  heartbeatInterval: number
  heartbeatTtl: number
}
const connection = new Redis(args.url, { maxRetriesPerRequest: null })
const queue = new Queue(args.queue, { connection, prefix: args.namespace })
const fleet = createFleet({ url: args.url, namespace: args.namespace })
await startTrackedWorker({
  fleet,
  queue,
  connection,
  tracker: {
    instanceId: 'doomed',
    heartbeatInterval: args.heartbeatInterval,
    heartbeatTtl: args.heartbeatTtl,
  },
  processor: async (job) => {
    process.stdout.write(`started ${job.id}\n`)
    return new Promise<never>(() => {})
  },
})
process.stdout.write('ready\n')
setInterval(() => {}, 60_000)
