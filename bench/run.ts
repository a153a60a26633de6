/**
 * `npm run bench [-- filter]`: starts a private redis-server, runs every scenario in
 * bench/scenarios (or those whose name contains `filter`) for redfleet, the baseline clients
 * (bench/clients.ts) and any peer library in the same run, and prints ops/s with the ratio to
 * the cell's best baseline client, paired round by round.
 * BENCH_DURATION (ms per measurement, default 600) and BENCH_ROUNDS (default 5) tune it.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { createFleet } from '../src/index.ts'
import { assertRedisInstalled, startRedis } from '../test/harness/redis-server.ts'
import { CLIENT_NAMES } from './clients.ts'
import {
  type BenchContext,
  duration,
  type Op,
  printPaired,
  progress,
  rounds,
  type Scenario,
  type ThroughputScenario,
} from './lib.ts'

const filter = process.argv[2] ?? ''

async function loadScenarios(): Promise<Scenario[]> {
  const dir = join(import.meta.dirname, 'scenarios')
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort()
  const modules = await Promise.all(
    files.map((f) => import(join(dir, f)) as Promise<{ scenarios: Scenario[] }>),
  )
  return modules.flatMap((m) => m.scenarios)
}

const USAGE = `Usage: npm run bench [-- filter]   (or: redfleet bench [filter], in a source checkout)

Runs the scenarios whose name contains \`filter\` (all without one) against a redis-server of
its own. BENCH_DURATION (ms per measurement, default 600) and BENCH_ROUNDS (default 5) tune it.`

/** The scenarios to run; a request for help, or a filter that names none, ends the process first. */
function chosen(all: Scenario[]): Scenario[] {
  const names = all.map((s) => `  ${s.name}`).join('\n')
  if (filter === '--help' || filter === '-h') {
    console.log(`${USAGE}\n\nThe scenarios:\n${names}`)
    process.exit(0)
  }
  const picked = all.filter((s) => s.name.includes(filter))
  if (picked.length === 0) {
    // An empty run would look like a bench that measured nothing worth printing.
    console.error(`bench: no scenario's name contains "${filter}"; the scenarios:\n${names}`)
    process.exit(2)
  }
  return picked
}

async function runThroughput(scenario: ThroughputScenario, ctx: BenchContext): Promise<void> {
  const ops = new Map<string, Op>()
  for (const [name, make] of Object.entries(scenario.variants)) ops.set(name, await make(ctx))
  await printPaired(scenario.name, ops, scenario.concurrency, CLIENT_NAMES)
}

const scenarios = chosen(await loadScenarios())
assertRedisInstalled()
const server = await startRedis()
console.log(`redfleet bench: redis-server ${server.url}, ${duration} ms x ${rounds} rounds per cell`)
console.log(
  'ops/s: median over rounds; ratio: median over rounds of (variant ops/s / ops/s of the same round of the ' +
    `cell's best baseline client (of ${CLIENT_NAMES.join(', ')}; highest median)); '(again)': the first client measured twice, the noise floor\n`,
)
try {
  for (const [i, scenario] of scenarios.entries()) {
    progress(`scenario ${i + 1}/${scenarios.length}: ${scenario.name}`)
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
        if (rows.length > 0) {
          console.log(scenario.name)
          console.table(rows)
        }
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
