import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { type BenchContext, type CustomScenario, median, percentile, type Scenario } from '../lib.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const LATENCY_SAMPLES = 2000
const THROUGHPUT_MESSAGES = 20_000
/** Publishes in flight at once in the throughput run. */
const WINDOW = 256
const payload = JSON.stringify({ type: 'cursor.moved', user: 'u-42', x: 120, y: 348, at: 1_700_000_000_000 })

/**
 * A publisher and a subscriber on two different connections (two fleets, or two ioredis
 * clients), the way two processes of a fleet talk, so each message crosses Redis.
 */
interface Pair {
  publish(message: string): Promise<unknown>
  /** Replaces the subscriber-side listener. */
  listen(fn: () => void): void
  close(): Promise<void>
}

/** The baseline: PUBLISH on the raw client, SUBSCRIBE on a second ioredis connection. */
async function rawPair(ctx: BenchContext): Promise<Pair> {
  const channel = `${ctx.namespace}:broker:bench`
  const subscriber = new Redis(ctx.url)
  let listener = () => {}
  subscriber.on('message', () => listener())
  await subscriber.subscribe(channel)
  return {
    publish: (message) => ctx.raw.publish(channel, message),
    listen: (fn) => {
      listener = fn
    },
    close: async () => subscriber.disconnect(),
  }
}

/** redfleet: `fleet.broker().publish` on the bench fleet, `subscribe` on a second fleet. */
async function brokerPair(ctx: BenchContext): Promise<Pair> {
  const other = createFleet({ url: ctx.url, namespace: ctx.fleet.namespace })
  const receiving = other.broker({ channel: 'bench' })
  let listener = () => {}
  receiving.subscribe(() => listener())
  await receiving.ready()
  const sending = ctx.fleet.broker({ channel: 'bench' })
  return {
    publish: (message) => sending.publish(message),
    listen: (fn) => {
      listener = fn
    },
    close: () => other.close(),
  }
}

/** redfleet presence: Buffer payloads, `subscribe` resolving once confirmed. */
async function presencePair(ctx: BenchContext): Promise<Pair> {
  const other = createFleet({ url: ctx.url, namespace: ctx.fleet.namespace })
  let listener = () => {}
  await other.presence().subscribe('bench', () => listener())
  const sending = ctx.fleet.presence()
  return {
    publish: (message) => sending.publish('bench', message),
    listen: (fn) => {
      listener = fn
    },
    close: () => other.close(),
  }
}

/** One message at a time: publish, wait until the subscriber has it. Returns sorted ms. */
async function latencies(pair: Pair, samples: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < samples; i++) {
    const started = performance.now()
    const received = new Promise<void>((resolve) => pair.listen(resolve))
    await pair.publish(payload)
    await received
    out.push(performance.now() - started)
  }
  return out.sort((a, b) => a - b)
}

/** `total` messages, WINDOW in flight: messages per second, from first publish to last receipt. */
async function throughput(pair: Pair, total: number): Promise<number> {
  let received = 0
  const all = new Promise<void>((resolve) =>
    pair.listen(() => {
      if (++received === total) resolve()
    }),
  )
  let sent = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (sent < total) {
        sent++
        await pair.publish(payload)
      }
    }),
  )
  await all
  return (total / (performance.now() - started)) * 1000
}

const variants: Record<string, (ctx: BenchContext) => Promise<Pair>> = {
  'raw ioredis': rawPair,
  'redfleet broker': brokerPair,
  'redfleet presence': presencePair,
}

const pubsub: CustomScenario = {
  name: `broker publish→receive across two connections (latency: ${LATENCY_SAMPLES} sequential messages; throughput: ${THROUGHPUT_MESSAGES.toLocaleString('en-US')} with ${WINDOW} in flight; median of ${rounds} rounds)`,
  async measure(ctx) {
    const pairs = new Map<string, Pair>()
    for (const [name, make] of Object.entries(variants)) pairs.set(name, await make(ctx))
    const samples = new Map(
      [...pairs.keys()].map((name) => [
        name,
        { p50: [] as number[], p99: [] as number[], rate: [] as number[] },
      ]),
    )
    try {
      // Warm every path (connections, JIT) before measuring.
      for (const pair of pairs.values()) await throughput(pair, 1000)
      for (let round = 0; round < rounds; round++) {
        for (const [name, pair] of pairs) {
          const sorted = await latencies(pair, LATENCY_SAMPLES)
          const s = samples.get(name)!
          s.p50.push(percentile(sorted, 50))
          s.p99.push(percentile(sorted, 99))
          s.rate.push(await throughput(pair, THROUGHPUT_MESSAGES))
        }
      }
    } finally {
      for (const pair of pairs.values()) await pair.close()
    }
    const base = median(samples.get('raw ioredis')!.rate)
    return [...samples].map(([variant, s]) => ({
      variant,
      'p50 µs': Math.round(median(s.p50) * 1000),
      'p99 µs': Math.round(median(s.p99) * 1000),
      'msgs/s': Math.round(median(s.rate)),
      'throughput vs raw': `${(median(s.rate) / base).toFixed(2)}x`,
    }))
  },
}

export const scenarios: Scenario[] = [pubsub]
