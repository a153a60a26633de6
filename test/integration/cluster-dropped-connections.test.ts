/**
 * A cluster master that stays up drops the fleet's connections (CLIENT KILL: a proxy's or a load
 * balancer's idle timeout does the same). ioredis does not reconnect a cluster node's connection
 * that ended: the node leaves its pool while the slot map still names it, and only a slot-map
 * re-read connects it again. A reviewer's cluster (3 masters, 3 replicas, every master's
 * connections killed one after the other) had tracker.orphans() and getMany refused for ~10 s,
 * the pipeline redirected (MOVED) between the masters; a pipeline that meets a master without a
 * connection now has the slot map re-read. This file checks what a user sees: multi-key calls
 * (getMany, the tracker's listings) come back within one call's retries, round after round.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { createFleet } from '../../src/index.ts'
import { command } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleets } = fileCluster()

/** Keys spread over many slots, so that every master holds some. */
function keysOnEveryMaster(): string[] {
  const keys = Array.from({ length: 48 }, (_, i) => `k${i}`)
  assert.ok(new Set(keys.map((k) => Math.floor(calculateSlot(k) / 5462))).size === 3)
  return keys
}

/**
 * Closes every normal client connection of one master (it stays up). The fleet's other
 * connections live on, so its cluster client stays ready and does not start over.
 */
async function dropConnections(round: number): Promise<void> {
  const server = cluster.servers[round % cluster.servers.length]!
  await command(server.port, 'CLIENT', 'KILL', 'TYPE', 'normal')
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: multi-key calls come back by themselves after a master dropped the fleet's connections`, async () => {
    const fleet = createFleet({
      url: cluster.urls,
      cluster: true,
      transport,
      namespace: uniqueNamespace('dropped'),
      onError: () => {},
    })
    fleets.push(fleet)
    const store = fleet.store<number>()
    const tracker = fleet.tracker()
    const keys = keysOnEveryMaster()
    await store.setMany(keys.map((k, i) => [k, i]))
    assert.deepEqual(await tracker.orphans(), [])
    for (let round = 0; round < 3; round++) {
      await dropConnections(round)
      // Only multi-node calls: nothing else reconnects the dropped nodes for them.
      assert.deepEqual(
        await store.getMany(keys),
        keys.map((_, i) => i),
        `round ${round}`,
      )
      assert.deepEqual(await tracker.orphans(), [], `round ${round}`)
    }
  })
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: every master dropping the fleet's connections at once is no outage`, async () => {
    const reports: unknown[] = []
    const fleet = createFleet({
      url: cluster.urls,
      cluster: true,
      transport,
      namespace: uniqueNamespace('dropped-all'),
      onError: (error) => void reports.push(error),
    })
    fleets.push(fleet)
    const store = fleet.store<number>()
    const keys = keysOnEveryMaster()
    await store.setMany(keys.map((k, i) => [k, i]))
    for (let round = 0; round < 3; round++) {
      await Promise.all(cluster.servers.map((s) => command(s.port, 'CLIENT', 'KILL', 'TYPE', 'normal')))
      // The client reconnects at once: the calls wait for it rather than fail.
      assert.deepEqual(
        await store.getMany(keys),
        keys.map((_, i) => i),
        `round ${round}`,
      )
      assert.equal(await store.get('k0'), 0)
    }
    assert.deepEqual(reports.map(String), [], 'no node or cluster was reported down')
  })
}
