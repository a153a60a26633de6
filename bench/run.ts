/**
 * `npm run bench [-- filter]`: starts a private redis-server, runs every scenario in
 * bench/scenarios (or those whose name contains `filter`) for redfleet, raw ioredis and any
 * peer library in the same run, and prints ops/s with the ratio to raw ioredis.
 * BENCH_DURATION (ms per measurement, default 600) and BENCH_ROUNDS (default 5) tune it.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { createFleet } from '../src/index.ts'
import { assertRedisInstalled, startRedis } from '../test/harness/redis-server.ts'
import {
  type BenchContext,
  measureThroughput,
  type Op,
  type Scenario,
  type ThroughputScenario,
} from './lib.ts'

const duration = Number(process.env.BENCH_DURATION ?? 600)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const filter = process.argv[2] ?? ''

async function loadScenarios(): Promise<Scenario[]> {
  const dir = join(import.meta.dirname, 'scenarios')
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort()
  const modules = await Promise.all(
    files.map((f) => import(join(dir, f)) as Promise<{ scenarios: Scenario[] }>),
  )
  return modules.flatMap((m) => m.scenarios).filter((s) => s.name.includes(filter))
}

const format = (n: number) => Math.round(n).toLocaleString('en-US')

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** `names` starting at `round`: each round a different variant goes first, after the pause. */
const rotate = (names: readonly string[], round: number) =>
  names.map((_, i) => names[(i + round) % names.length]!)

/** ops/s of each variant per round (index r is round r); a round measures them back to back. */
async function measureRounds(ops: ReadonlyMap<string, Op>, concurrency: number) {
  const samples = new Map([...ops.keys()].map((name) => [name, [] as number[]]))
  for (let round = 0; round < rounds; round++) {
    for (const name of rotate([...ops.keys()], round))
      samples.get(name)![round] = await measureThroughput(ops.get(name)!, concurrency, duration)
  }
  return samples
}

async function runThroughput(scenario: ThroughputScenario, ctx: BenchContext): Promise<void> {
  const baseline = scenario.baseline ?? 'raw ioredis'
  const ops = new Map<string, Op>()
  for (const [name, make] of Object.entries(scenario.variants)) ops.set(name, await make(ctx))
  // The baseline measured twice per round: its ratio to itself is this run's noise floor.
  const control = ops.get(baseline)
  if (control) ops.set(`${baseline} (again)`, control)
  const width = Math.max(...[...ops.keys()].map((name) => name.length))
  for (const concurrency of scenario.concurrency) {
    const samples = await measureRounds(ops, concurrency)
    const base = samples.get(baseline)
    console.log(`${scenario.name}, c=${concurrency}`)
    for (const [name, xs] of samples) {
      // Paired: each round's ratio is taken against the baseline of that same round.
      const ratio = base && name !== baseline ? median(xs.map((x, r) => x / base[r]!)) : undefined
      const cell = `${format(median(xs)).padStart(11)}/s`
      console.log(`  ${name.padEnd(width)} ${cell}${ratio === undefined ? '' : `  ${ratio.toFixed(2)}x`}`)
    }
  }
}

assertRedisInstalled()
const server = await startRedis()
const scenarios = await loadScenarios()
console.log(`redfleet bench: redis-server ${server.url}, ${duration} ms x ${rounds} rounds per cell`)
console.log(
  'ops/s: median over rounds; ratio: median over rounds of (variant ops/s / raw ioredis ops/s in the same round)\n',
)
try {
  for (const [i, scenario] of scenarios.entries()) {
    const namespace = `bench${i}`
    const fleet = createFleet({ url: server.url, namespace })
    const raw = new Redis(server.url)
    const closers: (() => unknown)[] = []
    const ctx: BenchContext = {
      fleet,
      raw,
      url: server.url,
      namespace: `raw${i}`,
      onClose: (close) => closers.push(close),
    }
    try {
      await fleet.ready()
      if ('measure' in scenario) {
        const rows = await scenario.measure(ctx)
        console.log(scenario.name)
        console.table(rows)
      } else {
        await runThroughput(scenario, ctx)
      }
    } finally {
      for (const close of closers.reverse()) await close()
      await fleet.close()
      raw.disconnect()
    }
  }
} finally {
  await server.stop()
}
