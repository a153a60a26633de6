/**
 * A cluster master SIGKILLed and restarted answers CLUSTERDOWN while it rejoins (its
 * cluster_state is fail for a second or two). On node-redis each call failed at once, its retry
 * policy's attempts spent within ~100 ms: 16 failed calls of one caller in one such window
 * (helper-151). The node-redis transport sends the refused command again to its slot's master
 * within half of commandTimeout (README, "Retry"). (ioredis' own such retry goes to a random
 * master, which a frozen one held: redfleet turns it off, cluster-frozen-takeover.test.ts.)
 * A private 3-master cluster without replicas, since it kills a master.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { createFleet, RedfleetError } from '../../src/index.ts'
import { command, SETTLE_BOUND } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let cluster: Awaited<ReturnType<typeof startCluster>>
before(async () => {
  cluster = await startCluster()
})
after(() => cluster?.stop())

test('node-redis: a restarted master rejoining (CLUSTERDOWN) fails a caller at most once or twice, not once per try', async () => {
  const namespace = uniqueNamespace('clusterdown')
  const fleet = createFleet({
    url: cluster.urls,
    cluster: true,
    transport: 'node-redis',
    namespace,
    onError: () => {},
  })
  const victim = cluster.servers[1]!
  try {
    const own = String(await command(victim.port, 'CLUSTER', 'MYID'))
    const slots = (await command(victim.port, 'CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number, string],
    ][]
    const mine = slots.filter(([, , master]) => master[2] === own)
    let key = ''
    for (let i = 0; key === ''; i++) {
      const slot = calculateSlot(`${namespace}:store:k${i}`)
      if (mine.some(([from, to]) => slot >= from && slot <= to)) key = `k${i}`
    }
    const store = fleet.store()
    await store.increment(key)
    await victim.kill()
    await victim.restart()
    const refusals: string[] = []
    const deadline = Date.now() + SETTLE_BOUND
    for (;;) {
      try {
        await store.increment(key)
        break
      } catch (error) {
        assert.ok(error instanceof RedfleetError, String(error))
        if (/CLUSTERDOWN/.test(error.message)) refusals.push(error.message)
        assert.ok(Date.now() < deadline, `no increment succeeded within ${SETTLE_BOUND} ms`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    assert.ok(refusals.length <= 2, `${refusals.length} calls failed with CLUSTERDOWN`)
  } finally {
    await fleet.close()
  }
})
