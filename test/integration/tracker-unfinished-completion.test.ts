/**
 * An orphan whose requeue resolved while its node went down (SPEC §7: "each orphan is handed to
 * requeue exactly once ... it stops being tracked only after requeue resolves"). Its completion
 * (untrack, drop the claim) failed once the retry policy's attempts ran out; nothing sent it
 * again, so the orphan stayed tracked under a claim that ran out after recoveryLockTtl, and the
 * next recoverer handed it out a second time; and the call rejected though requeue had run
 * (helper-197: a cluster master killed mid-requeue, 2 of 2). Here the one server is killed from
 * inside requeue and restarted with its data (every write fsynced): the call counts the orphan,
 * the completion goes through once the server is back, and no recoverer hands it out again.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createFleet, type Fleet, NodeDownError, type TrackedJob } from '../../src/index.ts'
import { deferred } from '../harness/deferred.ts'
import { waitUntil } from '../harness/faults.ts'
import { orphanOf } from '../harness/orphans.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const fleets: Fleet[] = []
const server = await startRedis({ extra: ['--appendonly', 'yes', '--appendfsync', 'always'] })
after(async () => {
  await Promise.all(fleets.map((fleet) => fleet.close()))
  await server.stop()
})

const COMMAND_TIMEOUT = 300
/** Longer than the test waits for the completion: a claim that ran out would let it pass anyway. */
const RECOVERY_LOCK_TTL = 120_000

function fleetOf(namespace: string, onError: (error: unknown) => void = () => {}): Fleet {
  const fleet = createFleet({ url: server.url, namespace, commandTimeout: COMMAND_TIMEOUT, onError })
  fleets.push(fleet)
  return fleet
}

/** Restarts the server and waits for the completion sent again to untrack the orphan. */
async function untrackedOnceBack(namespace: string): Promise<void> {
  await server.restart()
  const observer = fleetOf(namespace).tracker()
  await waitUntil(
    'the orphan untracked by the completion sent again',
    async () => (await observer.orphans()).length === 0,
    RECOVERY_LOCK_TTL / 4,
  )
}

test('a node down as requeue resolves: the orphan counts, is untracked once the node is back, handed out once', async () => {
  const namespace = uniqueNamespace('tracker-unfinished')
  const finish = await orphanOf(fleetOf(namespace).tracker({ instanceId: 'dead' }), 'job-1')

  const reports: unknown[] = []
  const recoverer = fleetOf(namespace).tracker({
    recoveryLockTtl: RECOVERY_LOCK_TTL,
    onError: (error) => reports.push(error),
  })
  const requeued: TrackedJob[] = []
  const count = await recoverer.recoverOrphans(async (job) => {
    requeued.push(job)
    await server.kill()
  })
  assert.equal(count, 1, 'requeue ran: the call counts the orphan')
  assert.ok(
    reports.some((error) => error instanceof NodeDownError),
    `the failed completion reported: ${reports.map(String)}`,
  )

  await untrackedOnceBack(namespace)
  const again = await fleetOf(namespace)
    .tracker()
    .recoverOrphans((job) => void requeued.push(job))
  assert.equal(again, 0)
  assert.deepEqual(
    requeued.map((job) => job.id),
    ['job-1'],
  )
  finish()
})

test('the same from recoverEvery, with an onError given: the failed completion is reported there', async () => {
  // A loop's commands run quietly, and the report of one nobody awaits was left to a per-call
  // report that a loop never makes: an onError given heard nothing (helper-204).
  const namespace = uniqueNamespace('tracker-unfinished-every')
  const finish = await orphanOf(fleetOf(namespace).tracker({ instanceId: 'dead' }), 'job-2')

  const completionFailed = deferred<unknown>()
  const requeued: string[] = []
  const recoverer = fleetOf(namespace).tracker({
    recoveryLockTtl: RECOVERY_LOCK_TTL,
    recoverEvery: RECOVERY_LOCK_TTL,
    requeue: async (job) => {
      requeued.push(job.id)
      await server.kill()
    },
    onError: (error) => {
      if (/tracker\.recoverEvery 'job-2'/.test(String(error))) completionFailed.resolve(error)
    },
  })
  await recoverer.start()
  const giveUp = new AbortController()
  const heard = await Promise.race([
    completionFailed.promise,
    sleep(RECOVERY_LOCK_TTL / 4, 'nothing', { signal: giveUp.signal }),
  ]).finally(() => giveUp.abort())
  assert.ok(heard instanceof NodeDownError, `onError heard: ${String(heard)}`)
  await untrackedOnceBack(namespace)
  assert.deepEqual(requeued, ['job-2'])
  finish()
})
