/**
 * `npm run mutate [-- target...]`: mutation testing with StrykerJS (not part of CI: it runs the
 * chosen tests once per mutant, which takes minutes to hours). Each target names the source it
 * mutates and the tests that guard it; with no target, all of them. Targets whose tests need
 * Redis get the shared test servers (started once here, as test/run.ts does) through the
 * environment. Reports land in reports/mutation/<target>.html; the score is printed per target.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SERVERS_ENV, startTestServers } from '../test/harness/servers.ts'

interface Target {
  mutate: string[]
  tests: string[]
  /** The tests need the shared Redis servers (else they run on the memory topology only). */
  redis: boolean
}

const TARGETS: Record<string, Target> = {
  retry: {
    mutate: ['src/retry.ts', 'src/context.ts', 'src/operations.ts', 'src/errors.ts'],
    tests: ['test/unit/retry.test.ts', 'test/unit/operation-runner.test.ts'],
    redis: false,
  },
  codec: { mutate: ['src/codec.ts'], tests: ['test/unit/codec.test.ts'], redis: false },
  'cache-near-fill': {
    mutate: ['src/cache/near.ts', 'src/cache/fill.ts'],
    tests: [
      'test/unit/cache-fill.test.ts',
      'test/unit/cache-mechanisms.test.ts',
      'test/integration/cache-near.test.ts',
    ],
    redis: true,
  },
  'streams-consumer': {
    mutate: ['src/streams/consumer.ts'],
    tests: ['test/contract/streams.test.ts'],
    redis: true,
  },
  tracker: {
    mutate: ['src/tracker/*.ts'],
    tests: ['test/contract/tracker.test.ts', 'test/parity/tracker-parity.test.ts'],
    redis: true,
  },
  topology: {
    mutate: ['src/topology/*.ts'],
    tests: ['test/contract/store.test.ts', 'test/integration/fleet-faults.test.ts'],
    redis: true,
  },
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

const needsRedis = names.some((name) => TARGETS[name]!.redis)
const servers = needsRedis ? await startTestServers() : undefined
const env = { ...process.env, ...(servers ? { [SERVERS_ENV]: JSON.stringify(servers.servers) } : {}) }
let failed = false
try {
  mkdirSync(join(root, 'reports', 'mutation'), { recursive: true })
  for (const name of names) {
    const target = TARGETS[name]!
    const config = {
      testRunner: 'command',
      commandRunner: {
        command: `node --import tsx --test --test-reporter=dot --test-concurrency=1 ${target.tests.join(' ')}`,
      },
      mutate: target.mutate,
      coverageAnalysis: 'off',
      // Stryker rewrites tsconfig.json through TypeScript's JS API, which TypeScript 7 no longer
      // has; tsx runs the sandbox without a tsconfig, so point Stryker at none.
      tsconfigFile: 'no-tsconfig-for-stryker.json',
      concurrency: 2,
      // A mutant that makes a loop retry forever is a timeout (it counts as detected): keep the
      // extra time per run short for unit targets, longer where the tests start fleets on Redis.
      timeoutMS: target.redis ? 60_000 : 10_000,
      tempDirName: '.stryker-tmp',
      cleanTempDir: 'always',
      reporters: ['clear-text', 'html'],
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
