import { RECORD_3 } from '../../src/tracker/scripts.ts'
import { type BenchContext, measureThroughput, median, type Op, type Scenario } from '../lib.ts'

const duration = Number(process.env.BENCH_DURATION ?? 1000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const payload = { queue: 'reports', data: { month: '2026-11', pages: 12 } }
const noop = async () => undefined

/**
 * What `track` costs a job: a no-op job run bare, run inside `tracker.track`, and the same
 * Redis work done with raw ioredis around it: the record script (EVALSHA: list the session
 * with HSETNX, HSET the record) before and HDEL after, the two round trips track needs. A plain HSET + HDEL is shown
 * too, as the floor of any tracking. Overhead per job is 1/tracked − 1/untracked throughput,
 * in µs of wall time per job at that concurrency.
 */
async function measure(ctx: BenchContext): Promise<Record<string, string | number>[]> {
  const tracker = ctx.fleet.tracker({ instanceId: 'bench' })
  await tracker.start()
  const rawKey = `${ctx.namespace}:tracker:{bench}:jobs`
  const rawIndex = `${ctx.namespace}:tracker:{bench}:sessions`
  const rawAlive = `${ctx.namespace}:tracker:{bench}:alive`
  const text = JSON.stringify({ t: Date.now(), p: payload })
  const variants: Record<string, Op> = {
    untracked: () => noop(),
    'raw ioredis': async (i) => {
      await RECORD_3.run(
        ctx.raw,
        [rawIndex, rawKey, rawAlive],
        ['session', 'bench', `job-${i}`, text, Date.now(), 45_000],
      )
      await noop()
      await ctx.raw.hdel(rawKey, `job-${i}`)
    },
    'raw HSET+HDEL': async (i) => {
      await ctx.raw.hset(rawKey, `job-${i}`, text)
      await noop()
      await ctx.raw.hdel(rawKey, `job-${i}`)
    },
    redfleet: (i) => tracker.track(`job-${i}`, payload, noop),
  }
  const rows: Record<string, string | number>[] = []
  try {
    for (const concurrency of [1, 64]) {
      const samples = new Map(Object.keys(variants).map((name) => [name, [] as number[]]))
      for (let round = 0; round < rounds; round++) {
        for (const [name, op] of Object.entries(variants)) {
          samples.get(name)!.push(await measureThroughput(op, concurrency, duration))
        }
      }
      const [bare, raw, floor, tracked] = ['untracked', 'raw ioredis', 'raw HSET+HDEL', 'redfleet'].map((n) =>
        median(samples.get(n)!),
      )
      rows.push({
        concurrency,
        'untracked jobs/s': Math.round(bare!),
        'raw HSET+HDEL jobs/s': Math.round(floor!),
        'raw ioredis (same work) jobs/s': Math.round(raw!),
        'tracked jobs/s': Math.round(tracked!),
        'ratio to raw': (tracked! / raw!).toFixed(2),
        'overhead µs/job': ((1 / tracked! - 1 / bare!) * 1e6).toFixed(1),
      })
    }
  } finally {
    await tracker.stop()
    await ctx.raw.unlink(rawKey, rawIndex)
  }
  return rows
}

export const scenarios: Scenario[] = [{ name: 'tracker track(no-op job)', measure }]
