import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { serveDashboard } from '../../src/cli/dashboard.ts'
import { createFleet } from '../../src/index.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const main = join(import.meta.dirname, '../../src/cli/main.ts')

/** Runs the CLI as a user would; resolves with its exit code and output. */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk
  })
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  )
}

describe('redfleet command', () => {
  const fleets: ReturnType<typeof createFleet>[] = []
  after(() => Promise.all(fleets.map((f) => f.close())))

  test('usage errors exit 2 and failures exit 1, each with a one-line reason', async () => {
    const noRedisUrl = { ...process.env, REDIS_URL: '' }
    for (const args of [['bogus'], [], ['status'], ['status', '--nope'], ['status', '--cluster']]) {
      const run = await cli(args, noRedisUrl)
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr)
    }
    const unreachable = await cli(['status', '--url', 'redis://127.0.0.1:1'])
    assert.equal(unreachable.code, 1)
    assert.match(unreachable.stderr.trim(), /^redfleet: cannot reach Redis at 127\.0\.0\.1:1\/0/)
    assert.equal(unreachable.stderr.trim().split('\n').length, 1, unreachable.stderr)
  })

  test('status shows members, tracked jobs, orphans, streams with group lag, and key counts', async () => {
    const { standalone } = await testServers()
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: standalone, namespace })
    fleets.push(fleet)
    await fleet.membership().heartbeat('web-1')
    await fleet.store().set('a', 1)
    const streams = fleet.streams()
    await streams.ensureGroup('projections')
    await streams.publish({ n: 1 })
    await streams.publish({ n: 2 })
    const tracker = fleet.tracker({ instanceId: 'worker-a' })
    await tracker.start()
    let finish = () => {}
    const job = tracker.track('job-1', { x: 1 }, () => new Promise<void>((resolve) => (finish = resolve)))

    const run = await cli(['status', '--json', '--url', standalone, '--namespace', namespace])
    finish()
    await job
    await tracker.stop()
    assert.equal(run.code, 0, run.stderr)
    const status = JSON.parse(run.stdout)
    assert.equal(status.topology, 'standalone')
    assert.deepEqual(status.members, ['web-1'])
    assert.deepEqual(
      status.tracker.instances.map((i: { id: string }) => i.id),
      ['worker-a'],
    )
    assert.equal(status.tracker.inFlight, 1)
    assert.equal(status.tracker.orphans, 0)
    const group = status.streams.flatMap((s: { groups: { name: string }[] }) => s.groups)[0]
    assert.equal(group.name, 'projections')
    assert.equal(group.lag, 2)
    assert.equal(status.keys.store, 1)

    const text = await cli(['status', '--url', standalone, '--namespace', namespace])
    assert.equal(text.code, 0)
    assert.match(text.stdout, /members \(1\): web-1/)
    assert.match(text.stdout, /group projections: lag 2, pending 0/)
  })

  test('the dashboard serves the page and a live status.json', async () => {
    const { standalone } = await testServers()
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: standalone, namespace })
    fleets.push(fleet)
    await fleet.membership().heartbeat('api-7')
    const server = await serveDashboard(fleet, 0)
    try {
      const address = server.address()
      const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
      const page = await fetch(`${base}/`)
      assert.equal(page.status, 200)
      assert.match(await page.text(), /<title>redfleet dashboard<\/title>/)
      const status = await (await fetch(`${base}/status.json`)).json()
      assert.deepEqual(status.members, ['api-7'])
      assert.equal((await fetch(`${base}/nope`)).status, 404)
    } finally {
      server.close()
    }
  })

  test('demo: three worker processes, one killed mid-job, its jobs recovered and finished', async () => {
    const { standalone } = await testServers()
    const run = await cli(['demo', '--url', standalone])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /killed worker-3 in the middle of its 2 jobs/)
    assert.match(run.stdout, /recovered 2 orphaned jobs of worker-3/)
    assert.match(run.stdout, /done: jobs 6\/6, orders billed 12\/12, orphans left 0/)
  })

  test('demo without Redis runs in memory and says so', async () => {
    const run = await cli(['demo'], { ...process.env, PATH: '/nonexistent', REDIS_URL: '' })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /redis-server not found: running in memory/)
    assert.match(run.stdout, /done: jobs 6\/6, orders billed 12\/12, orphans left 0/)
  })
})
