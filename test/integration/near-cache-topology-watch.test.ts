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

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: near caches in ${NAMESPACES} namespaces share one slot-map reload per check`, async () => {
    const reported: string[] = []
    const fleet = createFleet({
      url: cluster.urls,
      cluster: true,
      transport,
      namespace: uniqueNamespace(),
      commandTimeout: 400, // a check every 100 ms
      onError: (error) => reported.push(String(error)),
    })
    fleets.push(fleet)
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
