/**
 * `npm run mutate [-- target...]`: mutation testing with StrykerJS (not part of CI: it runs the
 * chosen tests once per mutant, which takes minutes to hours). Each target names the source it
 * mutates and the tests that guard it; with no target, all of them. Contract suites run only on
 * the topologies the target names (REDFLEET_TEST_TOPOLOGIES, memory by default); targets that
 * name a Redis topology get the shared test servers (started once here, as test/run.ts does)
 * through the environment. Reports land in reports/mutation/<target>.html; the score is printed
 * per target.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TopologyKind } from '../src/index.ts'
import { SERVERS_ENV, startTestServers } from '../test/harness/servers.ts'
import { TOPOLOGIES_ENV } from '../test/harness/topologies.ts'

interface Target {
  mutate: string[]
  tests: string[]
  /**
   * The topologies the contract suites among `tests` run on (REDFLEET_TEST_TOPOLOGIES), as few as
   * reach the mutated code: each mutant runs the tests once. Unset: unit tests only.
   */
  topologies?: TopologyKind[]
}

// Each target is guarded by the fastest tests that exercise it: unit tests on fakes, and contract
// suites on the memory topology where the code under test does not care which backend serves it.
const TARGETS: Record<string, Target> = {
  retry: {
    mutate: ['src/retry.ts', 'src/context.ts', 'src/operations.ts', 'src/errors.ts'],
    tests: ['test/unit/retry.test.ts', 'test/unit/operation-runner.test.ts'],
  },
  codec: { mutate: ['src/codec.ts'], tests: ['test/unit/codec.test.ts'] },
  'cache-near-fill': {
    mutate: ['src/cache/near.ts', 'src/cache/fill.ts'],
    tests: [
      'test/unit/near-cache.test.ts',
      'test/unit/cache-fill.test.ts',
      'test/unit/cache-mechanisms.test.ts',
    ],
  },
  // The consumer loop only talks to a StreamBackend: a scripted one (unit) and the memory one,
  // which drives it as Redis does (contract).
  'streams-consumer': {
    mutate: ['src/streams/consumer.ts'],
    tests: ['test/unit/stream-consumer.test.ts', 'test/contract/streams.test.ts'],
    topologies: ['memory'],
  },
  // Connection plumbing is left out: connection.ts, health.ts and cluster-health.ts (reconnects,
  // node health, fail-fast) are reached only by the fault tests, which stop and kill servers and
  // take minutes per run; ioredis.ts is the dynamic import and types.ts has no code.
  topology: {
    mutate: [
      'src/topology/ring.ts',
      'src/topology/pipeline.ts',
      'src/topology/script.ts',
      'src/topology/handle.ts',
      'src/topology/memory.ts',
      'src/topology/sharded.ts',
      'src/topology/cluster.ts',
    ],
    tests: ['test/unit/ring.test.ts', 'test/unit/topology.test.ts', 'test/unit/memory-keyspace.test.ts'],
  },
  // The tracker's parts above its backend do not care which backend serves them: memory. The
  // parity property (test/parity) always runs on all three Redis topologies, too slow per mutant.
  tracker: {
    // Its mechanisms: the periodic loop, the in-flight records, orphan recovery, the runner. The
    // rest (options, listing, keys, the memory backend) is left out for time: each run of these
    // tests takes 2-20 s on a loaded 2-core machine.
    mutate: [
      'src/tracker/periodic.ts',
      'src/tracker/in-flight.ts',
      'src/tracker/recovery.ts',
      'src/tracker/runner.ts',
    ],
    tests: [
      'test/unit/tracker-periodic.test.ts',
      'test/unit/tracker-mechanisms.test.ts',
      'test/contract/tracker.test.ts',
    ],
    topologies: ['memory'],
  },
  // The Redis backend on one server: it sends the same scripts on every Redis topology (the
  // topology target guards the routing).
  'tracker-redis': {
    mutate: ['src/tracker/redis.ts', 'src/tracker/scripts.ts'],
    tests: ['test/contract/tracker.test.ts'],
    topologies: ['standalone'],
  },
}

/**
 * The command that runs `tests` in one Node process, one file after the other: `node --test`
 * would start a process per file, and loading TypeScript again for each costs more than most
 * of these tests take. A failing test still makes the process exit non-zero.
 */
function inOneProcess(tests: string[]): string {
  const imports = tests.map((file) => `await import('./${file}');`).join(' ')
  return `node --import tsx --test-reporter=dot --input-type=module -e "${imports}"`
}

const root = join(import.meta.dirname, '..')
const chosen = process.argv.slice(2)
const names = chosen.length > 0 ? chosen : Object.keys(TARGETS)
const unknown = names.filter((name) => !(name in TARGETS))
if (unknown.length > 0) {
  console.error(
    `mutate: unknown target(s) ${unknown.join(', ')}; targets: ${Object.keys(TARGETS).join(', ')}`,
  )
  process.exit(2)
}

/** Whether a target's tests need the shared Redis servers. */
const needsRedis = (target: Target) => target.topologies?.some((t) => t !== 'memory') ?? false
const servers = names.some((name) => needsRedis(TARGETS[name]!)) ? await startTestServers() : undefined
let failed = false
try {
  mkdirSync(join(root, 'reports', 'mutation'), { recursive: true })
  for (const name of names) {
    const target = TARGETS[name]!
    const env = {
      ...process.env,
      ...(servers ? { [SERVERS_ENV]: JSON.stringify(servers.servers) } : {}),
      [TOPOLOGIES_ENV]: (target.topologies ?? ['memory']).join(','),
    }
    const config = {
      testRunner: 'command',
      commandRunner: { command: inOneProcess(target.tests) },
      mutate: target.mutate,
      coverageAnalysis: 'off',
      // Stryker rewrites tsconfig.json through TypeScript's JS API, which TypeScript 7 no longer
      // has; tsx runs the sandbox without a tsconfig, so point Stryker at none.
      tsconfigFile: 'no-tsconfig-for-stryker.json',
      concurrency: 2,
      // A mutant that makes a loop retry forever is a timeout (it counts as detected): keep the
      // extra time per run short for unit targets, longer where the tests start fleets on Redis.
      timeoutMS: needsRedis(target) ? 60_000 : 10_000,
      tempDirName: '.stryker-tmp',
      cleanTempDir: 'always',
      reporters: ['clear-text', 'html', 'progress-append-only'],
      htmlReporter: { fileName: `reports/mutation/${name}.html` },
      ignorePatterns: ['reports', 'dist', 'bench', '.bench-*', 'test-artifacts'],
    }
    const file = join(root, 'reports', 'mutation', `${name}.stryker.json`)
    writeFileSync(file, JSON.stringify(config, null, 2))
    console.log(`\nmutate ${name}: ${target.mutate.join(' ')} against ${target.tests.join(' ')}`)
    const run = spawnSync('npx', ['stryker', 'run', file], { cwd: root, env, stdio: 'inherit' })
    if (run.status !== 0) failed = true
  }
} finally {
  await servers?.stop()
}
process.exit(failed ? 1 : 0)
