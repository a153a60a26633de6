/**
 * A cluster master SIGKILLed and restarted while a fleet only sends it pipelines (tracker
 * instances, setMany: one pipeline per master). ioredis drops the connection of a master that
 * went down, and its pipelines do not connect again (they bounce between the other masters,
 * MOVED): only a slot-map re-read gives it a new connection, which is also the probe that finds
 * the node back (SPEC §8: "one probe per reconnect interval finds the node again"). Once the
 * node was known down, no re-read was asked for, so the fleet refused that master's part of
 * every such call (NodeDownError) for as long as only pipelines went its way: a minute and more.
 * A private 3-master cluster without replicas, since it kills a master.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet, type Fleet, NodeDownError } from '../../src/index.ts'
import { command, waitUntil } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let cluster: Awaited<ReturnType<typeof startCluster>>
before(async () => {
  cluster = await startCluster()
  // The other masters keep serving their slots while one is down.
  await Promise.all(
    cluster.servers.map((s) => command(s.port, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no')),
  )
})
after(() => cluster?.stop())

/**
 * How long the fleet may take to serve the master again once the cluster says it is back: a
 * slot-map re-read (at most one a second for a node that does not answer) and a probe (one per
 * reconnect interval, 250 ms), each a few times over for a busy machine.
 */
const BACK_WITHIN = 4 * (1000 + 250)

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a master back after a SIGKILL is served again though only pipelines go its way`, async () => {
    const fleet: Fleet = createFleet({
      url: cluster.urls,
      cluster: true,
      transport,
      namespace: uniqueNamespace('back'),
      onError: () => {},
    })
    const victim = cluster.servers[2]!
    try {
      const store = fleet.store<number>()
      const tracker = fleet.tracker()
      // 30 keys: some on every master.
      const entries = Array.from({ length: 30 }, (_, i): [string, number] => [`k${i}`, i])
      const everyMaster = async () => {
        await tracker.instances()
        await store.setMany(entries)
      }
      await everyMaster()
      await victim.kill()
      // Pipelines only, until the fleet knows the master is down.
      await waitUntil('the master known down', async () =>
        everyMaster().then(
          () => false,
          (error: unknown) => error instanceof NodeDownError,
        ),
      )
      await victim.restart()
      await waitUntil('the cluster serving every slot again', async () =>
        (await Promise.all(cluster.servers.map((s) => command(s.port, 'CLUSTER', 'INFO')))).every((info) =>
          String(info).includes('cluster_state:ok'),
        ),
      )
      let lastError: unknown
      await waitUntil(
        'the fleet serving the master again',
        () =>
          everyMaster().then(
            () => true,
            (error: unknown) => {
              lastError = error
              return false
            },
          ),
        BACK_WITHIN,
      ).catch((error: unknown) => {
        throw new Error(`${error}; last failure: ${lastError}`)
      })
      assert.deepEqual(
        await store.getMany(entries.map(([key]) => key)),
        entries.map(([, value]) => value),
      )
    } finally {
      await fleet.close()
    }
  })
}
