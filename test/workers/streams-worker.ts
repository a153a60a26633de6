// A consumer process of the streams integration tests. Consumes the main stream of its fleet as
// `consumer` of `group` and records what its handler does in Redis (so the record survives a
// SIGKILL of this process): successes in the set `doneKey`, attempts at poison entries in the
// hash `attemptsKey`. Random failures at `failRate`; entries with `poison: true` always fail.
// With `hold`, the handler never finishes (a consumer stuck holding its batch, to be killed);
// with `killOn`, the handler of that entry SIGKILLs this process (a crash mid-batch).
// Prints `started` once consuming, `handled <n>` per success; SIGTERM stops it gracefully.
import { Redis } from 'ioredis'
import { createFleet, type FleetOptions } from '../../src/index.ts'

const args = JSON.parse(process.argv[2]!) as {
  options: FleetOptions
  url: string
  group: string
  consumer: string
  minIdle: number
  batch: number
  maxDeliveries: number
  failRate: number
  hold?: boolean
  killOn?: number
  doneKey: string
  attemptsKey: string
}

const fleet = createFleet(args.options)
const streams = fleet.streams()
const redis = new Redis(args.url)
const controller = new AbortController()
process.once('SIGTERM', () => controller.abort())

await streams.ensureGroup(args.group)
process.stdout.write('started\n')
await streams.consume(
  args.group,
  args.consumer,
  async ({ envelope }) => {
    const n = envelope.n as number
    if (n === args.killOn) process.kill(process.pid, 'SIGKILL')
    if (args.hold) {
      process.stdout.write(`holding ${n}\n`)
      await new Promise(() => {})
    }
    if (envelope.poison) {
      await redis.hincrby(args.attemptsKey, String(n), 1)
      throw new Error(`poison ${n}`)
    }
    if (Math.random() < args.failRate) throw new Error(`random failure ${n}`)
    await redis.sadd(args.doneKey, String(n))
    process.stdout.write(`handled ${n}\n`)
  },
  { signal: controller.signal, minIdle: args.minIdle, batch: args.batch, maxDeliveries: args.maxDeliveries },
)
await fleet.close()
redis.disconnect()
