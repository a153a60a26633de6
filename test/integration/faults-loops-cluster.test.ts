/**
 * consume, tail, tailEvents and membership.inbox ride out what happens to a Redis Cluster
 * (SPEC §5): a master SIGKILLed and failed over, the old master rejoining and failing back with
 * `CLUSTER FAILOVER`, and the streams' slot moving to another master. Every entry published
 * before and after each fault is handled by every loop, without restarting any of them.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { createFleet } from '../../src/index.ts'
import { type ClusterNode, type FaultCluster, startFaultCluster } from '../harness/faults.ts'
import { watchLoops } from '../harness/loops.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

describe('loops through cluster failover, failback and resharding', () => {
  let cluster: FaultCluster
  before(async () => {
    cluster = await startFaultCluster()
  })
  after(() => cluster?.stop())

  /** A name whose key lands on `master`, so one fault hits every loop. */
  async function nameOn(master: ClusterNode, key: (name: string) => string): Promise<string> {
    for (let i = 0; ; i++) {
      if ((await cluster.masterOf(key(`n${i}`))) === master) return `n${i}`
    }
  }

  test('every entry before and after each fault is handled by every loop', async () => {
    const namespace = uniqueNamespace('loops')
    const reported: { op: string; error: unknown }[] = []
    const options = { url: cluster.urls, cluster: true, namespace }
    const fleet = createFleet({ ...options, onError: (error, { op }) => reported.push({ op, error }) })
    try {
      const events = `${namespace}:streams:events`
      const master = await cluster.masterOf(events)
      const channel = await nameOn(master, (n) => `${namespace}:streams:channel:${n}`)
      const member = await nameOn(master, (n) => `${namespace}:membership:inbox:${n}`)
      const loops = await watchLoops(fleet, { channel, member }, reported, () =>
        createFleet({ ...options, onError: () => {} }),
      )
      await loops.until(await loops.publish('before', 10))

      await cluster.killAndFailover(master)
      await loops.until(await loops.publish('after-failover', 10))

      await cluster.restart(master)
      await cluster.failover(master)
      assert.equal(await cluster.masterOf(events), master, 'failed back')
      await loops.until(await loops.publish('after-failback', 10))

      await cluster.moveSlot(calculateSlot(events), await otherMaster(master))
      await loops.until(await loops.publish('after-move', 10))
      await loops.stop()
    } finally {
      await fleet.close()
    }
  })

  /** A master other than `not`: the owner of the first key that does not land on `not`. */
  async function otherMaster(not: ClusterNode): Promise<ClusterNode> {
    for (let i = 0; ; i++) {
      const owner = await cluster.masterOf(`k${i}`)
      if (owner !== not) return owner
    }
  }
})
