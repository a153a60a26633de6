/**
 * `npm run bench [-- filter]`: starts a private redis-server, runs every scenario in
 * bench/scenarios (or those whose name contains `filter`) for redfleet, raw ioredis and any
 * peer library in the same run, and prints ops/s with the ratio to raw ioredis.
 * BENCH_DURATION (ms per measurement, default 1000) and BENCH_ROUNDS (default 3) tune it.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { createFleet } from '../src/index.ts'
import { assertRedisInstalled, startRedis } from '../test/harness/redis-server.ts'
import { type BenchContext, measureThroughput, type Scenario, type ThroughputScenario } from './lib.ts'

const duration = Number(process.env.BENCH_DURATION ?? 1000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
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
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function runThroughput(scenario: ThroughputScenario, ctx: BenchContext): Promise<void> {
  const baseline = scenario.baseline ?? 'raw ioredis'
  const ops = new Map<string, Awaited<ReturnType<ThroughputScenario['variants'][string]>>>()
  for (const [name, make] of Object.entries(scenario.variants)) ops.set(name, await make(ctx))
  for (const concurrency of scenario.concurrency) {
    const samples = new Map<string, number[]>([...ops.keys()].map((name) => [name, []]))
    for (let round = 0; round < rounds; round++) {
      for (const [name, op] of ops)
        samples.get(name)!.push(await measureThroughput(op, concurrency, duration))
    }
    const base = median(samples.get(baseline) ?? [Number.NaN])
    const cells = [...samples].map(([name, xs]) => {
      const ops = median(xs)
      return name === baseline
        ? `${name} ${format(ops)}/s`
        : `${name} ${format(ops)}/s (${(ops / base).toFixed(2)}x)`
    })
    console.log(`${scenario.name.padEnd(34)} c=${String(concurrency).padEnd(4)} ${cells.join(' | ')}`)
  }
}

assertRedisInstalled()
const server = await startRedis()
const scenarios = await loadScenarios()
console.log(
  `redfleet bench: redis-server ${server.url}, ${duration} ms x ${rounds} rounds per cell (median shown)`,
)
console.log('ratios: redfleet (or peer) ops/s divided by raw ioredis ops/s doing the same Redis work\n')
try {
  for (const [i, scenario] of scenarios.entries()) {
    const namespace = `bench${i}`
    const fleet = createFleet({ url: server.url, namespace })
    const raw = new Redis(server.url)
    const ctx: BenchContext = { fleet, raw, url: server.url, namespace: `raw${i}` }
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
      await fleet.close()
      raw.disconnect()
    }
  }
} finally {
  await server.stop()
}
