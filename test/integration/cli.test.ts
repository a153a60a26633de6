import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { run } from '../../src/cli/main.ts'
import { assertOneLine, cli, noRedisUrl, root } from './cli-support.ts'

/** Runs one command line in this process (what the binary runs), capturing what it prints. */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const saved = process.env.REDIS_URL
  process.env.REDIS_URL = ''
  try {
    const code = await run(args, { out: (text) => (stdout += text), err: (text) => (stderr += text) })
    return { code, stdout, stderr }
  } finally {
    process.env.REDIS_URL = saved
  }
}

/** The command exits 2 with one line on stderr matching `reason`, and prints nothing else. */
async function assertUsageError(args: string[], reason: RegExp): Promise<void> {
  const result = await inProcess(args)
  const what = `${args.join(' ').slice(0, 80)}: ${result.stderr}`
  assert.equal(result.code, 2, what)
  assertOneLine(result.stderr)
  assert.match(result.stderr, /^redfleet: /)
  assert.match(result.stderr, reason, what)
  assert.equal(result.stdout, '', what)
}

const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

describe('redfleet command: usage', () => {
  test('usage errors exit 2 with a one-line reason', async () => {
    const runs: [string[], RegExp][] = [
      [['bogus'], /unknown command 'bogus'/],
      [[], /a command is needed/],
      [['status'], /status needs --url/],
      [['orphans'], /orphans needs --url/],
      [['status', '--nope'], /unknown option '--nope'/],
      [['status', 'extra'], /too many arguments for 'status'/],
      [['status', '--cluster'], /--cluster needs --url/],
      [
        ['status', '--url', 'localhost:6379'],
        /--url must be redis:\/\/\[user:password@\]host\[:port\]\[\/db\]/,
      ],
      [
        ['status', '--url', 'http://127.0.0.1:1'],
        /--url must be redis:\/\/\[user:password@\]host\[:port\]\[\/db\]/,
      ],
      [['status', '--url', 'redis://127.0.0.1:1,:x'], /--url must be .* \(url 2 of 2\)/],
      // An empty entry is a malformed list, not one url fewer.
      [['status', '--url', 'redis://127.0.0.1:1,'], /--url must be .* \(url 2 of 2\)/],
      [['status', '--url', 'redis://127.0.0.1:1,,redis://127.0.0.1:2'], /--url must be .* \(url 2 of 3\)/],
      [['dlq', '--url', 'redis://127.0.0.1:1'], /missing required argument/],
      [['dlq', 'peek', 'x:dead', '--url', 'redis://127.0.0.1:1'], /Allowed choices are list, replay, purge/],
      [['dlq', 'list', 'x:dead', '--limit', '0', '--url', 'redis://127.0.0.1:1'], /--limit must be/],
      [['dlq', 'list', 'x:dead', '--ids', 'a', '--url', 'redis://127.0.0.1:1'], /--ids is for dlq replay/],
      [['status', '--watch', '-1', '--url', 'redis://127.0.0.1:1'], /--watch takes/],
      [['dashboard', '--port', 'http', '--url', 'redis://127.0.0.1:1'], /--port must be a port number/],
      [['dashboard'], /dashboard needs --url/],
      [['dashboard', '--token', '', '--url', 'redis://127.0.0.1:1'], /--token must not be empty/],
      [
        ['dashboard', '--host', '0.0.0.0', '--allow-actions', '--url', 'redis://127.0.0.1:1'],
        /--allow-actions on --host 0\.0\.0\.0 needs --token/,
      ],
      [['status', '--namespace', 'a b', '--url', 'redis://127.0.0.1:1'], /namespace/],
      // Taken and ignored, they would make one believe the bench measured that server.
      [['bench', '--url', 'redis://127.0.0.1:1', 'store'], /bench starts a redis-server of its own/],
      [['--namespace', 'x', 'bench'], /--url, --cluster and --namespace do not apply/],
    ]
    for (const [args, reason] of runs) await assertUsageError(args, reason)
  })

  test('an empty $REDFLEET_DASHBOARD_TOKEN is a usage error, as an empty --token is: not a dashboard open to all', async () => {
    const saved = process.env.REDFLEET_DASHBOARD_TOKEN
    process.env.REDFLEET_DASHBOARD_TOKEN = ''
    try {
      await assertUsageError(
        ['dashboard', '--url', 'redis://127.0.0.1:1'],
        /\$REDFLEET_DASHBOARD_TOKEN is empty/,
      )
    } finally {
      if (saved === undefined) delete process.env.REDFLEET_DASHBOARD_TOKEN
      else process.env.REDFLEET_DASHBOARD_TOKEN = saved
    }
  })

  test('a malformed $REDIS_URL is named as such, not as a --url never given', async () => {
    const run = await cli(['orphans'], { ...noRedisUrl, REDIS_URL: 'garbage' })
    assert.equal(run.code, 2, run.stderr)
    assert.match(run.stderr, /^redfleet: \$REDIS_URL must be redis:\/\/\[user:password@\]host/)
  })

  test('an unknown command with --help is the same usage error as without it, and prints no help', async () => {
    await assertUsageError(['bogus', '--help'], /unknown command 'bogus'/)
    await assertUsageError(['--url', 'redis://127.0.0.1:1', 'bogus', '-h'], /unknown command 'bogus'/)
    // The help flag first, too: commander leaves it in front of the command it did not know.
    await assertUsageError(['-h', 'bogus'], /unknown command 'bogus'/)
    await assertUsageError(['--url', 'redis://127.0.0.1:1', '--help', 'bogus'], /unknown command 'bogus'/)
    const known = await inProcess(['-h', 'status'])
    assert.equal(known.code, 0, known.stderr)
    assert.match(known.stdout, /^Usage: redfleet/)
    const binary = await cli(['bogus', '--help'], noRedisUrl)
    assert.equal(binary.code, 2)
    assert.equal(binary.stdout, '')
    assert.equal(binary.stderr, "redfleet: unknown command 'bogus' (redfleet --help shows the usage)\n")
  })

  test('an unknown flag with --help is the same usage error as without it, and prints no help', async () => {
    const runs: [string[], RegExp][] = [
      [['status', '--bogus', '--help'], /unknown option '--bogus'/],
      [['status', '--help', '--bogus'], /unknown option '--bogus'/],
      [['status', '--bogus', '-h'], /unknown option '--bogus'/],
      [['--bogus', '--help'], /unknown option '--bogus'/],
      [['--bogus', 'status', '--help'], /unknown option '--bogus'/],
      [['dashboard', '--port', '1', '--help', '--x'], /unknown option '--x'/],
      [['dlq', 'list', 'x:dead', '--nope', '--help'], /unknown option '--nope'/],
      // Without --help too, the unknown flag is named before the unknown command.
      [['bogus', '--x', '--help'], /unknown option '--x'/],
    ]
    for (const [args, reason] of runs) await assertUsageError(args, reason)
    const binary = await cli(['status', '--bogus', '--help'], noRedisUrl)
    assert.equal(binary.code, 2)
    assert.equal(binary.stdout, '')
    assert.equal(binary.stderr, "redfleet: unknown option '--bogus' (redfleet --help shows the usage)\n")
    // What follows `--` is not a flag, and bench passes its flags on to the suite.
    for (const args of [
      ['status', '--help', '--', '--x'],
      ['bench', '--foo', '--help'],
    ]) {
      const result = await inProcess(args)
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stdout, /^Usage: redfleet /)
    }
  })

  test('an empty or too long dead-letter channel is a usage error, before connecting', async () => {
    // An unreachable url: a check made after connecting would exit 1 ("cannot reach Redis").
    const url = ['--url', 'redis://127.0.0.1:1']
    for (const action of ['list', 'replay', 'purge']) {
      await assertUsageError(['dlq', action, '', ...url], /dlq: the dead-letter channel must not be empty/)
      await assertUsageError(
        ['dlq', action, 'x'.repeat(1100), ...url],
        /dlq: the dead-letter channel is 1100 bytes, more than the 1024 allowed/,
      )
    }
  })

  test('dashboard --host "" is a usage error: it would listen on every interface, unguarded', async () => {
    await assertUsageError(
      ['dashboard', '--host', '', '--url', 'redis://127.0.0.1:1'],
      /--host must not be empty/,
    )
  })

  test('failures exit 1 with a one-line reason', async () => {
    for (const command of [['status'], ['orphans'], ['dlq', 'list', 'billing:dead']]) {
      const result = await inProcess([...command, '--url', 'redis://127.0.0.1:1'])
      assert.equal(result.code, 1, `${command.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, /^redfleet: cannot reach Redis at 127\.0\.0\.1:1/)
      assertOneLine(result.stderr)
    }
  })

  test('--version prints the package version; --help and <command> --help print usage and exit 0', async () => {
    for (const flag of ['--version', '-V']) {
      const result = await inProcess([flag])
      assert.equal(result.code, 0)
      assert.equal(result.stdout, `${version}\n`)
    }
    const help = await inProcess(['--help'])
    assert.equal(help.code, 0)
    for (const command of ['demo', 'status', 'dashboard', 'dlq', 'orphans', 'bench']) {
      assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'))
    }
    const status = await inProcess(['status', '--help'])
    assert.equal(status.code, 0)
    for (const flag of ['--json', '--watch', '--url', '--cluster', '--namespace']) {
      assert.ok(status.stdout.includes(flag), flag)
    }
    // The namespace createFleet gives a fleet without one (SPEC §1).
    assert.match(status.stdout, /--namespace <ns> +the fleet namespace \(default: rf\)/)
    const dashboard = await inProcess(['dashboard', '--help'])
    for (const flag of ['--host', '--port', '--token', '--allow-actions']) {
      assert.ok(dashboard.stdout.includes(flag), flag)
    }
    const dlq = await inProcess(['dlq', '--help'])
    for (const flag of ['--ids', '--limit', '--json', 'list, replay, purge'])
      assert.ok(dlq.stdout.includes(flag), flag)
    assert.equal(help.stderr + status.stderr + dashboard.stderr + dlq.stderr, '')
  })

  test('the binary exits 0, 1 and 2 as the command did', async () => {
    const shown = await cli(['--version'])
    assert.equal(shown.code, 0)
    assert.equal(shown.stdout, `${version}\n`)
    const usage = await cli(['status', '--nope'], noRedisUrl)
    assert.equal(usage.code, 2)
    assert.equal(usage.stderr, "redfleet: unknown option '--nope' (redfleet --help shows the usage)\n")
    const failure = await cli(['status', '--url', 'redis://127.0.0.1:1'])
    assert.equal(failure.code, 1)
    assert.match(failure.stderr, /^redfleet: cannot reach Redis at 127\.0\.0\.1:1/)
    assertOneLine(failure.stderr)
  })
})
