/**
 * consume, tail, tailEvents and membership.inbox ride out a demoted master and a Redis restart
 * on a fleet with one url (SPEC §5): every entry published before and after the fault is handled
 * by every loop, without restarting any of them.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { type FaultPair, info, startPrimaryReplica, waitUntil } from '../harness/faults.ts'
import { watchLoops } from '../harness/loops.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** The fleet whose loops are watched, and new fleets like it to publish from. */
function fleets(url: string, reported: { op: string; error: unknown }[]) {
  const namespace = uniqueNamespace('loops')
  return {
    fleet: createFleet({ url, namespace, onError: (error, { op }) => reported.push({ op, error }) }),
    publisher: () => createFleet({ url, namespace, onError: () => {} }),
  }
}

/** Commands a server refused (READONLY on a replica, ...), from INFO commandstats. */
async function rejectedCalls(port: number): Promise<number> {
  let rejected = 0
  for (const value of (await info(port, 'commandstats')).values()) {
    rejected += Number(/rejected_calls=(\d+)/.exec(value)?.[1] ?? 0)
  }
  return rejected
}

/** How many UNBLOCKED and READONLY replies a server gave (INFO errorstats): a demotion's. */
async function demotionReplies(port: number): Promise<number> {
  const stats = await info(port, 'errorstats')
  let replies = 0
  for (const prefix of ['UNBLOCKED', 'READONLY']) {
    replies += Number(/count=(\d+)/.exec(stats.get(`errorstat_${prefix}`) ?? '')?.[1] ?? 0)
  }
  return replies
}

describe('loops through a REPLICAOF demotion of the primary and back', () => {
  let pair: FaultPair
  before(async () => {
    pair = await startPrimaryReplica()
  })
  after(() => pair?.stop())

  test('every entry before and after is handled by every loop; the demotion is ridden out, not fatal, and not reported', async () => {
    const reported: { op: string; error: unknown }[] = []
    const { fleet, publisher } = fleets(pair.primary.url, reported)
    try {
      const loops = await watchLoops(fleet, { channel: 'ch', member: 'm' }, reported, publisher)
      await loops.until(await loops.publish('before', 10))
      const repliesBefore = await demotionReplies(pair.primary.port)
      await pair.swap()
      // While demoted, every loop's next read or write meets a replica; they must wait it out.
      await pair.swapBack()
      await loops.until(await loops.publish('after', 10))
      await loops.stop()
      assert.ok((await demotionReplies(pair.primary.port)) > repliesBefore, 'the demotion reached the loops')
      // Each loop meets it: a failover is no failure to report once per loop (src/loops.ts).
      const blocked = reported.filter(({ error }) => /UNBLOCKED|READONLY/.test(String(error)))
      assert.deepEqual(blocked.map(String), [])
    } finally {
      await fleet.close()
    }
  })
})

describe('the tracker through a REPLICAOF demotion of the primary and back', () => {
  let pair: FaultPair
  before(async () => {
    pair = await startPrimaryReplica()
  })
  after(() => pair?.stop())

  test('heartbeats go on after it, the outage is reported once, and recoverEvery still recovers', async () => {
    const reported: { op: string; error: unknown }[] = []
    const { fleet } = fleets(pair.primary.url, reported)
    const requeued: string[] = []
    const heartbeatInterval = 100
    const options = { heartbeatInterval, heartbeatTtl: 3 * heartbeatInterval }
    const survivor = fleet.tracker({
      ...options,
      recoverEvery: 50,
      instanceId: 'survivor',
      requeue: (job) => void requeued.push(job.id),
    })
    const victim = fleet.tracker({ ...options, instanceId: 'victim', onError: () => {} })
    try {
      await survivor.start()
      await victim.start()
      // The victim's job outlives it: once its heartbeat expires it is an orphan to recover.
      let finish = () => {}
      const job = victim.track('job-1', {}, () => new Promise<void>((resolve) => (finish = resolve)))
      await waitUntil('the job to be tracked', async () => (await survivor.inFlight('victim')).length === 1)
      const before = await rejectedCalls(pair.primary.port)
      await pair.swap()
      // Several beats and passes meet the replica: each is refused (READONLY) and retried.
      await waitUntil(
        'beats refused by the demoted primary',
        async () => (await rejectedCalls(pair.primary.port)) >= before + 10,
      )
      await pair.swapBack()
      // Orphaned only now: what recovers it is the survivor's recovery loop that lived through.
      await victim.stop()
      await waitUntil('the orphan to be recovered', async () => requeued.includes('job-1'))
      await waitUntil('the survivor to be live again', async () =>
        (await survivor.instances()).some((i) => i.id === 'survivor'),
      )
      const heartbeatReports = reported.filter((r) => r.op === 'tracker.heartbeat')
      assert.equal(
        heartbeatReports.filter((r) => /READONLY/.test(String(r.error))).length,
        1,
        `one report for the outage: ${heartbeatReports.map((r) => String(r.error))}`,
      )
      finish()
      await job
    } finally {
      await fleet.close()
    }
  })
})

describe('loops through a Redis restart', () => {
  let server: RedisServer
  before(async () => {
    // Persisted, like a production Redis: a restart keeps the streams and the consumer group.
    server = await startRedis({ extra: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  })
  after(() => server?.stop())

  test('every entry before and after a restart is handled by every loop', async () => {
    const reported: { op: string; error: unknown }[] = []
    const { fleet, publisher } = fleets(server.url, reported)
    try {
      const loops = await watchLoops(fleet, { channel: 'ch', member: 'm' }, reported, publisher)
      await loops.until(await loops.publish('before', 10))
      await server.restart()
      await loops.until(await loops.publish('after', 10))
      await server.kill()
      await server.restart()
      await loops.until(await loops.publish('after-crash', 10))
      await loops.stop()
    } finally {
      await fleet.close()
    }
  })
})
