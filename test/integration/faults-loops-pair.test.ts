/**
 * consume, tail, tailEvents and membership.inbox ride out a demoted master and a Redis restart
 * on a fleet with one url (SPEC §5): every entry published before and after the fault is handled
 * by every loop, without restarting any of them.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { type FaultPair, startPrimaryReplica } from '../harness/faults.ts'
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

describe('loops through a REPLICAOF demotion of the primary and back', () => {
  let pair: FaultPair
  before(async () => {
    pair = await startPrimaryReplica()
  })
  after(() => pair?.stop())

  test('every entry before and after is handled by every loop; the demotion was reported, not fatal', async () => {
    const reported: { op: string; error: unknown }[] = []
    const { fleet, publisher } = fleets(pair.primary.url, reported)
    try {
      const loops = await watchLoops(fleet, { channel: 'ch', member: 'm' }, reported, publisher)
      await loops.until(await loops.publish('before', 10))
      await pair.swap()
      // While demoted, every loop's next read or write meets a replica; they must wait it out.
      await pair.swapBack()
      await loops.until(await loops.publish('after', 10))
      await loops.stop()
      const blocked = reported.filter(({ error }) => /UNBLOCKED|READONLY/.test(String(error)))
      assert.ok(blocked.length > 0, `the demotion reached the loops: ${reported.map((r) => String(r.error))}`)
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
