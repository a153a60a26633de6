/**
 * ioredis drops a cluster master whose connection ended from the masters it lists, though the
 * master is up and its slots are still its own, until a command goes to one of its slots. The
 * namespace walk (status, the dashboard) then missed that master's keys without a word, and once
 * it named unconnected masters, it called a healthy one down for good. The walk reads the slot
 * map again when a master is missing, which reconnects it: the counts are whole again.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createFleet } from '../../src/index.ts'
import { walkNamespace } from '../../src/inspect.ts'
import { command } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { socketsTo } from '../harness/sockets.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let cluster: Awaited<ReturnType<typeof startCluster>>
before(async () => {
  cluster = await startCluster()
})
after(() => cluster?.stop())

/** How long the killed sockets may take to be gone here (their close is a few turns). */
const GONE_WITHIN = 5000

test('a master whose connections were killed is scanned again, not left out or called down', async () => {
  const fleet = createFleet({ url: cluster.urls, cluster: true, namespace: uniqueNamespace('walk') })
  try {
    const store = fleet.store<number>()
    for (let i = 0; i < 30; i++) await store.set(`k${i}`, i)
    const whole = await walkNamespace(fleet)
    assert.deepEqual([whole.keys.store, whole.skipped.length], [30, 0])
    const victim = cluster.servers[1]!
    const before = socketsTo(victim.port).length
    await command(victim.port, 'CLIENT', 'KILL', 'TYPE', 'normal')
    // Until this process saw its sockets to the victim close (ioredis then drops the node).
    const deadline = Date.now() + GONE_WITHIN
    while (socketsTo(victim.port).length >= before && Date.now() < deadline) await sleep(10)
    await sleep(50)
    const walked = await walkNamespace(fleet)
    assert.deepEqual(
      [walked.keys.store, walked.skipped.map(String)],
      [30, []],
      'every key counted, no master called down',
    )
  } finally {
    await fleet.close()
  }
})
