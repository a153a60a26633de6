import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { cli, printed, standaloneFleets, start, stuckJob } from './cli-support.ts'

/** Liveness that outlasts any test on a loaded machine: only what the test stops is gone. */
const LONG = 600_000

describe('redfleet status and dashboard', () => {
  const standaloneFleet = standaloneFleets()

  test('status shows instance ids, their jobs, orphans, and groupLag where Redis has no lag', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await fleet.membership({ ttl: LONG }).heartbeat('web-1')
    await fleet.store().set('a', 1)
    // Counted with their primitive: a store's own prefix, a view's cache, a key ending in `cache`.
    await fleet.store({ prefix: 'cart:' }).set('42:cache', 1)
    await fleet.withNamespace('eu').cache().write('k', 1)
    const streams = fleet.streams()
    await streams.ensureGroup('projections')
    await streams.publish({ n: 1 })
    await streams.publish({ n: 2 })
    const deleted = await streams.publish({ n: 3 })
    // An XDEL past the group's position: Redis' XINFO lag is null now, groupLag is still 2.
    const raw = new Redis(url)
    await raw.xdel(`${namespace}:streams:events`, deleted)
    raw.disconnect()
    const tracker = fleet.tracker({ instanceId: 'worker-a', heartbeatTtl: LONG })
    await tracker.start()
    let finish = () => {}
    const job = tracker.track('job-1', { x: 1 }, () => new Promise<void>((resolve) => (finish = resolve)))
    const gone = fleet.tracker({ instanceId: 'worker-gone' })
    await gone.start()
    await stuckJob(gone, 'job-2', { y: 2 })
    await gone.stop()

    const flags = ['--url', url, '--namespace', namespace]
    const [json, text] = await Promise.all([cli(['status', '--json', ...flags]), cli(['status', ...flags])])
    finish()
    await job
    await tracker.stop()
    assert.equal(json.code, 0, json.stderr)
    const status = JSON.parse(json.stdout)
    assert.equal(status.topology, 'standalone')
    assert.deepEqual(status.members, ['web-1'])
    assert.deepEqual(
      status.tracker.instances.map((i: { id: string; jobs: { id: string }[] }) => [
        i.id,
        i.jobs.map((j) => j.id),
      ]),
      [['worker-a', ['job-1']]],
    )
    assert.equal(status.tracker.inFlight, 1)
    assert.equal(status.tracker.orphans, 1)
    assert.deepEqual(
      status.tracker.orphanJobs.map((j: { id: string; instanceId: string }) => [j.instanceId, j.id]),
      [['worker-gone', 'job-2']],
    )
    const group = status.streams.flatMap((s: { groups: { name: string }[] }) => s.groups)[0]
    assert.deepEqual(group, { name: 'projections', pending: 0, consumers: 0, lag: 2 })
    assert.equal(status.keys.store, 2)
    assert.equal(status.keys.cache, 1)
    assert.equal(status.keys.cart, undefined)
    assert.equal(status.keys.eu, undefined)

    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /members \(1\): web-1/)
    assert.match(
      text.stdout,
      /instance worker-a {2}last seen .*, 1 job\(s\)\n {4}job job-1 {2}instance worker-a/,
    )
    assert.match(text.stdout, /orphan job-2 {2}instance worker-gone/)
    assert.match(text.stdout, /group projections: lag 2, pending 0, consumers 0/)
  })

  test('status --watch prints snapshots until Ctrl-C, then exits 0', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await fleet.membership({ ttl: LONG }).heartbeat('web-9')
    const watch = start(['status', '--watch', '0.05', '--json', '--url', url, '--namespace', namespace])
    await printed(watch.child, watch.output, /\n.*\n/)
    watch.child.kill('SIGINT')
    const run = await watch.exited
    assert.equal(run.code, 0, run.stderr)
    const snapshots = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    assert.ok(snapshots.length >= 2)
    for (const snapshot of snapshots) assert.deepEqual(snapshot.members, ['web-9'])
  })

  test('dashboard off loopback without a token serves read-only and says on stderr that anyone can read it', async () => {
    const { url, namespace } = await standaloneFleet()
    const env = { ...process.env }
    delete env.REDFLEET_DASHBOARD_TOKEN
    const served = start(
      ['dashboard', '--host', '0.0.0.0', '--port', '0', '--url', url, '--namespace', namespace],
      env,
    )
    await printed(served.child, served.output, /redfleet dashboard on (http:\S+) \(read-only;/)
    served.child.kill('SIGINT')
    const run = await served.exited
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stderr, /listens on 0\.0\.0\.0 without --token: anyone who can reach it reads/)
  })

  test('dashboard serves the fleet with the token from the environment until Ctrl-C, then exits 0', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await fleet.membership({ ttl: LONG }).heartbeat('api-7')
    const env = { ...process.env, REDFLEET_DASHBOARD_TOKEN: 'sesame' }
    const served = start(['dashboard', '--port', '0', '--url', url, '--namespace', namespace], env)
    await printed(served.child, served.output, /redfleet dashboard on (http:\S+) \(read-only, token required/)
    const base = /on (http:\S+)/.exec(served.output())![1]!
    try {
      assert.equal(new URL(base).hostname, '127.0.0.1')
      assert.equal((await fetch(`${base}status.json`)).status, 401)
      const status = await fetch(`${base}status.json`, { headers: { authorization: 'Bearer sesame' } })
      assert.equal(status.status, 200)
      assert.match(await status.text(), /"api-7"/)
    } finally {
      served.child.kill('SIGINT')
    }
    const run = await served.exited
    assert.equal(run.code, 0, run.stderr)
  })
})
