/**
 * The near cache's periodic topology check (docs/cache.md: a slot-map reload and a ROLE per
 * master every commandTimeout / 4) is the fleet's, not each cache namespace's. A reviewer's
 * cluster fleet with a near cache per tenant view reloaded the slot map once per namespace at
 * every check (on ioredis a new connection each time): a core taken at ~25 namespaces, idle, and
 * a close that took 50 s at ~150. Counted here in the servers' own command statistics, so no
 * clock is involved: per check there is one ROLE per namespace and master, and one reload.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { info } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { untilNearHit } from '../harness/near-cache.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleets } = fileCluster()

const NAMESPACES = 8
/** How many checks to count over: enough that a per-namespace reload could not hide. */
const CHECKS = 10

/** Over all masters: the ROLE calls, and the slot-map reads (however the client asks for it). */
async function counts(): Promise<{ roles: number; reloads: number }> {
  let roles = 0
  let reloads = 0
  for (const server of cluster.servers) {
    const stats = await info(server.port, 'commandstats')
    const calls = (name: string) => Number(/calls=(\d+)/.exec(stats.get(`cmdstat_${name}`) ?? '')?.[1] ?? 0)
    roles += calls('role')
    reloads += calls('cluster|slots') + calls('cluster|shards') + calls('cluster|nodes')
  }
  return { roles, reloads }
}

/** A fleet on the file's cluster (closed after the tests), with what it reports to onError. */
function clusterFleet(transport: 'ioredis' | 'node-redis', commandTimeout?: number) {
  const reported: string[] = []
  const fleet = createFleet({
    url: cluster.urls,
    cluster: true,
    transport,
    namespace: uniqueNamespace(),
    ...(commandTimeout === undefined ? {} : { commandTimeout }),
    onError: (error) => reported.push(String(error)),
  })
  fleets.push(fleet)
  return { fleet, reported }
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: near caches in ${NAMESPACES} namespaces share one slot-map reload per check`, async () => {
    const { fleet, reported } = clusterFleet(transport, 400) // a check every 100 ms
    const caches = Array.from({ length: NAMESPACES }, (_, i) =>
      fleet.withNamespace(`tenant${i}`).cache({ near: { max: 10 } }),
    )
    for (const cache of caches) {
      await cache.write('k', 1)
      await untilNearHit(cache, 'k', 15_000, reported)
    }
    const masters = cluster.servers.length
    const start = await counts()
    // Each check asks every master its ROLE once per namespace: wait for CHECKS of them.
    let now = start
    while (now.roles - start.roles < CHECKS * NAMESPACES * masters) {
      await sleep(20)
      now = await counts()
    }
    const checks = (now.roles - start.roles) / (NAMESPACES * masters)
    const reloads = now.reloads - start.reloads
    // One reload per check (a check in flight at either end, and a reload a command's MOVED
    // asks for, give some slack); one per namespace would be NAMESPACES times as many.
    assert.ok(
      reloads <= checks + 3,
      `${reloads} slot-map reloads in ${checks.toFixed(1)} checks of ${NAMESPACES} namespaces`,
    )
    assert.ok(reloads >= 1, 'the slot map is still reloaded by the periodic check')
  })
}

/**
 * Each slot-map reload opens a connection of the client's own (ioredis duplicates one, node-redis
 * makes a client): an idle near cache's checks, four a second, opened 14,000 an hour per process
 * (helper-227). A check asks CLUSTER SLOTS on a master's connection and reloads only on a change.
 */
for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: an idle near cache's checks open no connection while the slot map stays the same`, async () => {
    // The other tests' fleets keep checking: closed, so that every ROLE counted is this fleet's.
    await Promise.all(fleets.splice(0).map((fleet) => fleet.close()))
    // One connection per server for the counting itself, opened before it starts.
    const admins = cluster.servers.map((server) => new Redis(server.url))
    try {
      const { fleet, reported } = clusterFleet(transport)
      const cache = fleet.cache({ near: { max: 10 } })
      await cache.write('k', 1)
      await untilNearHit(cache, 'k', 15_000, reported)
      const sample = async () => {
        let roles = 0
        let connections = 0
        for (const admin of admins) {
          roles += Number(/cmdstat_role:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)
          connections += Number(/total_connections_received:(\d+)/.exec(await admin.info('stats'))![1])
        }
        return { roles, connections }
      }
      const start = await sample()
      let now = start
      while (now.roles - start.roles < CHECKS * admins.length) {
        await sleep(20)
        now = await sample()
      }
      // A check whose CLUSTER SLOTS timed out on a loaded machine reloads: some slack, not one per check.
      const opened = now.connections - start.connections
      assert.ok(opened <= 3, `${opened} connections opened in ${CHECKS} checks`)
    } finally {
      for (const admin of admins) admin.disconnect()
    }
  })
}
