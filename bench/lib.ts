import type { Redis } from 'ioredis'
import type { Fleet } from '../src/index.ts'

/** What every scenario gets: a fleet and a raw ioredis client on the same bench server. */
export interface BenchContext {
  /** A standalone fleet in a namespace of its own. */
  readonly fleet: Fleet
  /** Raw ioredis on the same server: the baseline doing the same Redis work. */
  readonly raw: Redis
  /** The bench server's url, for scenarios that open more connections (other processes, peers). */
  readonly url: string
  /** A prefix for raw keys, so raw and redfleet data never mix (peers put their own name after it). */
  readonly namespace: string
  /** Registers `close` (for a peer's client) to run when the scenario is done, so the process can exit. */
  onClose(close: () => unknown): void
}

/** One operation of a variant; `i` counts calls, so ops can spread over keys. */
export type Op = (i: number) => Promise<unknown>

/**
 * Raw ioredis reading `names` under `prefix` with one MGET and parsing each value. The keys are
 * made on every call, as an application with ids must (and redfleet does): the prefixed key
 * strings are part of the work, and most of what a multi-key read allocates.
 */
export function rawGetMany(
  raw: { mget(keys: string[]): Promise<(string | null)[]> },
  prefix: string,
  names: readonly string[],
): Op {
  return async () => {
    const keys = names.map((name) => prefix + name)
    return (await raw.mget(keys)).map((text) => (text === null ? undefined : JSON.parse(text)))
  }
}

/**
 * A throughput scenario: every variant does the same Redis work; the runner measures each at
 * every concurrency in rounds (all variants back to back, order rotated each round) and prints
 * the median ops/s and the median over rounds of the ratio to the cell's best baseline client
 * (of the variants named as in bench/clients.ts) in the same round.
 */
export interface ThroughputScenario {
  readonly name: string
  readonly concurrency: readonly number[]
  /** Variants: each returns its op after any setup (seeding keys, warming). */
  readonly variants: Record<string, (ctx: BenchContext) => Promise<Op>>
}

/** A scenario that measures something else (latency percentiles) and returns rows to print. */
export interface CustomScenario {
  readonly name: string
  measure(ctx: BenchContext): Promise<Record<string, string | number>[]>
}

export type Scenario = ThroughputScenario | CustomScenario

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Runs `op` from `concurrency` loops for `durationMs`; returns operations per second. */
export async function measureThroughput(op: Op, concurrency: number, durationMs: number): Promise<number> {
  let count = 0
  const deadline = performance.now() + durationMs
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await op(count++)
      }
    }),
  )
  return (count / (performance.now() - started)) * 1000
}

/** Milliseconds per measurement and rounds per cell of the paired throughput runs. */
export const duration = Number(process.env.BENCH_DURATION ?? 600)
export const rounds = Number(process.env.BENCH_ROUNDS ?? 5)

const format = (n: number) => Math.round(n).toLocaleString('en-US')

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** `names` starting at `round`: each round a different variant goes first, after the pause. */
const rotate = (names: readonly string[], round: number) =>
  names.map((_, i) => names[(i + round) % names.length]!)

/**
 * A one-line progress display of a long run, on a terminal only (redirected output and CI logs
 * get just the results). `undefined` clears it.
 */
export function progress(text: string | undefined): void {
  const err = process.stderr
  if (!err.isTTY) return
  err.clearLine(0)
  err.cursorTo(0)
  if (text !== undefined) err.write(text.slice(0, Math.max(0, err.columns - 1)))
}

/**
 * What `measure` gives for each of `names` per round (index r is round r); a round measures them
 * back to back, rotated (rotate). A first round, not counted, warms every one up: the JIT has
 * compiled a variant's code after it, so that the first counted round of a variant with more
 * code of its own (redfleet's layers over a client's) is not also its compiling one.
 */
export async function measureRounds(
  names: readonly string[],
  measure: (name: string) => Promise<number>,
  label: string,
): Promise<Map<string, number[]>> {
  for (const name of names) {
    progress(`${label}: warming ${name} up`)
    await measure(name)
  }
  const samples = new Map(names.map((name) => [name, [] as number[]]))
  const total = rounds * names.length
  let done = 0
  for (let round = 0; round < rounds; round++) {
    for (const name of rotate(names, round)) {
      progress(`${label}: ${done++}/${total} measured, now ${name} (round ${round + 1})`)
      samples.get(name)![round] = await measure(name)
    }
  }
  progress(undefined)
  return samples
}

/** The median over rounds of `xs[r] / against[r]`: a ratio in which drift between rounds cancels. */
export function pairedRatio(xs: readonly number[], against: readonly number[]): number {
  return median(xs.map((x, r) => x / against[r]!))
}

/**
 * The baseline client of the cell: the one with the highest median ops/s. Not the fastest
 * client of each round: the highest of several noisy figures is above each client's own
 * figure by the noise, and would be the bar every round.
 */
export function bestOf(
  baselines: readonly string[],
  samples: ReadonlyMap<string, number[]>,
): string | undefined {
  let best: string | undefined
  for (const name of baselines) {
    if (best === undefined || median(samples.get(name)!) > median(samples.get(best)!)) best = name
  }
  return best
}

/**
 * Measures `ops` at each concurrency and prints median ops/s and paired ratios: per round,
 * each variant's ops/s over the cell's best baseline client's (`clients`, the names of
 * bench/clients.ts; bestOf) in that round, then the median over rounds. The first client is
 * measured a second time per round, `(again)`, with its ratio to its own first measurement:
 * the run's noise floor.
 */
export async function printPaired(
  title: string,
  variants: ReadonlyMap<string, Op>,
  concurrencies: readonly number[],
  clients: readonly string[],
): Promise<void> {
  const ops = new Map(variants)
  const baselines = clients.filter((name) => ops.has(name))
  const floor = baselines[0]
  const again = `${floor} (again)`
  if (floor) ops.set(again, ops.get(floor)!)
  const width = Math.max(...[...ops.keys()].map((name) => name.length))
  for (const concurrency of concurrencies) {
    const samples = await measureRounds(
      [...ops.keys()],
      (name) => measureThroughput(ops.get(name)!, concurrency, duration),
      `${title}, c=${concurrency}`,
    )
    const best = bestOf(baselines, samples)
    console.log(`${title}, c=${concurrency}${best === undefined ? '' : ` (best client: ${best})`}`)
    for (const [name, xs] of samples) {
      const against = samples.get(name === again ? floor! : best!)!
      const ratio = baselines.length === 0 ? undefined : pairedRatio(xs, against)
      const cell = `${format(median(xs)).padStart(11)}/s`
      console.log(`  ${name.padEnd(width)} ${cell}${ratio === undefined ? '' : `  ${ratio.toFixed(2)}x`}`)
    }
  }
}
