/**
 * The test entry point (`npm test`): starts the shared Redis servers once (standalone, three
 * shards, a 3-master cluster), runs every test file with Node's test runner, and stops the
 * servers afterwards, whatever happened. Extra arguments are test files to run instead of all.
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, relative } from 'node:path'
import { SERVERS_ENV, startTestServers } from './harness/servers.ts'

const root = join(import.meta.dirname, '..')

function testFiles(): string[] {
  return readdirSync(join(root, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .map((file) => join('test', file))
    .sort()
}

const requested = process.argv.slice(2).map((file) => relative(root, file))
const files = requested.length > 0 ? requested : testFiles()

const { servers, stop } = await startTestServers()
let stopping: Promise<void> | undefined
const shutdown = () => (stopping ??= stop())
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void shutdown().then(() => process.exit(130)))
}

const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./test/harness/slowest-files.mjs',
    '--test-reporter-destination=stdout',
    // A test stuck for two minutes fails instead of holding the run.
    '--test-timeout=120000',
    // Most files spend much of their time waiting (timeouts, child processes, Redis), so one
    // file more than there are cores keeps the CPUs busy.
    `--test-concurrency=${availableParallelism() + 1}`,
    ...files,
  ],
  {
    cwd: root,
    stdio: ['inherit', 'pipe', 'inherit'],
    env: { ...process.env, [SERVERS_ENV]: JSON.stringify(servers) },
  },
)
// A test file whose process never exits (an open socket or timer) would hang CI: give up once
// nothing at all was reported for that long. Not a limit on the whole run, which a loaded machine
// (both cores busy) stretches past any fixed figure; a stuck test fails after --test-timeout.
const QUIET_LIMIT_MS = 5 * 60_000
const watchdog = setTimeout(() => {
  console.error(
    `test/run.ts: no test reported anything for ${QUIET_LIMIT_MS / 60_000} minutes; a test file left handles open`,
  )
  child.kill('SIGKILL')
}, QUIET_LIMIT_MS)
child.stdout!.pipe(process.stdout, { end: false })
child.stdout!.on('data', () => watchdog.refresh())
const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)))
clearTimeout(watchdog)
await shutdown()
// What the reporters wrote (the summary lines CI reads) reaches a slow reader before the exit.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()))
process.exit(code)
