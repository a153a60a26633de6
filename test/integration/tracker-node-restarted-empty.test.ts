/**
 * A started tracker whose node restarts empty has lost its liveness key (and the records of the
 * jobs it had then). A job it tracks next is recorded at once, but the instance was not live
 * again until its next heartbeat (up to `heartbeatInterval`, 15 s by default): meanwhile the
 * running job was an orphan, and another instance requeued it while it ran (helper-298: 6 of 6
 * runs on a ring and a cluster). Recording a job of a started tracker now restores its liveness
 * in the same step. A tracker that was never started is still not live ("Track while started"),
 * nor one whose start() failed: its first heartbeat failing leaves it stopped (helper-299: its
 * records made it live).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { deferred } from '../harness/deferred.ts'
import { waitUntil } from '../harness/faults.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a job tracked after the node restarted empty is not an orphan while it runs`, async () => {
    const server = await startRedis()
    const options = { url: server.url, namespace: uniqueNamespace('tracker-empty'), transport, onError() {} }
    const [worker, other] = [createFleet(options), createFleet(options)]
    try {
      // The default heartbeatInterval: no timed beat comes within the test.
      const tracker = worker.tracker({ instanceId: 'worker' })
      const unstarted = worker.tracker({ instanceId: 'never-started' })
      await tracker.start()
      await server.kill()
      await server.restart()
      const store = worker.store()
      await waitUntil('the fleet reaches the restarted node', () => store.get('any').then(() => true))
      assert.deepEqual(await other.tracker().instances(), [], 'its liveness was lost with the node')

      const running = deferred()
      const job = tracker.track('job-1', { n: 1 }, () => running.promise)
      const loose = unstarted.track('job-2', { n: 2 }, () => running.promise)
      await waitUntil(
        'both jobs are recorded',
        async () => (await other.tracker().inFlight('worker')).length > 0,
      )
      await waitUntil(
        "the other tracker's job is recorded",
        async () => (await other.tracker().orphans()).length > 0,
      )
      assert.deepEqual(
        (await other.tracker().instances()).map((instance) => instance.id),
        ['worker'],
        'live again from its job',
      )
      assert.deepEqual(
        (await other.tracker().orphans()).map((orphan) => orphan.id),
        ['job-2'],
        'only the job of the tracker that was never started is an orphan',
      )
      running.resolve()
      await Promise.all([job, loose])
    } finally {
      await Promise.all([worker.close(), other.close()])
      await server.stop()
    }
  })
}

test('a tracker whose start() failed is not made live by the jobs it tracks', async () => {
  const server = await startRedis()
  const options = { url: server.url, namespace: uniqueNamespace('tracker-failed-start'), onError() {} }
  const [worker, other] = [createFleet(options), createFleet(options)]
  try {
    const tracker = worker.tracker({ instanceId: 'worker', retry: { attempts: 1 } })
    await server.kill()
    await assert.rejects(tracker.start())
    await server.restart()
    const store = worker.store()
    await waitUntil('the fleet reaches the restarted node', () => store.get('any').then(() => true))
    const running = deferred()
    const job = tracker.track('job-1', { n: 1 }, () => running.promise)
    await waitUntil('the job is recorded', async () => (await other.tracker().orphans()).length > 0)
    assert.deepEqual(await other.tracker().instances(), [], 'not live')
    assert.deepEqual(
      (await other.tracker().orphans()).map((orphan) => orphan.id),
      ['job-1'],
    )
    running.resolve()
    await job
  } finally {
    await Promise.all([worker.close(), other.close()])
    await server.stop()
  }
})
