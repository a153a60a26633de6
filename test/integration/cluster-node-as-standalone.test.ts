/**
 * A fleet made without `cluster: true` from a cluster node's url: the keys of the node's own
 * slots work, the others are redirected (MOVED), which only a cluster client follows. The error
 * must say which option is missing, not only hand back the raw MOVED: a ConfigError
 * (ERR_IS_A_CLUSTER), from ready() too, as `cluster: true` against a server that is not a
 * cluster is (ERR_NOT_A_CLUSTER).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { ConfigError, createFleet } from '../../src/index.ts'
import { inspectFleet } from '../../src/inspect.ts'
import { command } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let cluster: Awaited<ReturnType<typeof startCluster>>
before(async () => {
  cluster = await startCluster()
})
after(() => cluster?.stop())

/** A key of the store `namespace` whose slot the first node does not serve. */
async function keyElsewhere(namespace: string): Promise<string> {
  const own = String(await command(cluster.servers[0]!.port, 'CLUSTER', 'MYID'))
  const slots = (await command(cluster.servers[0]!.port, 'CLUSTER', 'SLOTS')) as [
    number,
    number,
    [string, number, string],
  ][]
  const mine = slots.filter(([, , master]) => master[2] === own)
  for (let i = 0; ; i++) {
    const slot = calculateSlot(`${namespace}:store:k${i}`)
    if (!mine.some(([from, to]) => slot >= from && slot <= to)) return `k${i}`
  }
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a standalone fleet on a cluster node says to connect with cluster: true`, async () => {
    const namespace = uniqueNamespace('not-cluster')
    const fleet = createFleet({ url: cluster.urls[0], transport, namespace, retry: { attempts: 1 } })
    try {
      const key = await keyElsewhere(namespace)
      await assert.rejects(fleet.store().get(key), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error))
        assert.equal(error.code, 'ERR_IS_A_CLUSTER')
        assert.equal(error.outcome, 'not-applied')
        assert.match(error.message, /^store\.get '.+' failed: MOVED \d+ .*connect with cluster: true\)$/)
        return true
      })
    } finally {
      await fleet.close()
    }
  })
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: ready() of a standalone fleet or a ring given a cluster node refuses, naming it`, async () => {
    const standalone = createFleet({
      url: cluster.urls[0],
      transport,
      namespace: uniqueNamespace('not-cluster'),
    })
    // A ring with one cluster node among others: ready() names that node.
    const ring = createFleet({ url: cluster.urls, transport, namespace: uniqueNamespace('not-cluster') })
    try {
      for (const fleet of [standalone, ring]) {
        await assert.rejects(fleet.ready(), (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error))
          assert.equal(error.code, 'ERR_IS_A_CLUSTER')
          assert.match(error.message, /is a Redis Cluster node: connect with cluster: true$/)
          assert.ok(
            cluster.urls.some((u) => error.message.includes(new URL(u).host)),
            error.message,
          )
          return true
        })
      }
    } finally {
      await Promise.all([standalone.close(), ring.close()])
    }
  })
}

test('a multi-key call of a standalone fleet on a cluster node (CROSSSLOT) says so too', async () => {
  const fleet = createFleet({
    url: cluster.urls[0],
    namespace: uniqueNamespace('not-cluster'),
    retry: { attempts: 1 },
  })
  try {
    // Keys of many slots: a cluster node refuses them in one MGET.
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
    await assert.rejects(fleet.store().getMany(keys), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error))
      assert.equal(error.code, 'ERR_IS_A_CLUSTER')
      assert.match(error.message, /CROSSSLOT.*connect with cluster: true\)$/)
      return true
    })
  } finally {
    await fleet.close()
  }
})

test("the operator's view (status, dashboard) of a fleet given a cluster's nodes says so too", async () => {
  const namespace = uniqueNamespace('not-cluster')
  const writer = createFleet({ url: cluster.urls, cluster: true, namespace })
  const ring = createFleet({ url: cluster.urls, namespace, retry: { attempts: 1 }, onError: () => {} })
  try {
    // What an operator points the command at: a main stream with a group, channels, a member.
    const streams = writer.streams()
    await streams.ensureGroup('billing')
    for (let i = 0; i < 5; i++) await streams.publish({ i }, ['orders'])
    await writer.membership().heartbeat('web-1')
    // Its own reads of the streams go to the nodes directly, not through the operation runner.
    await assert.rejects(inspectFleet(ring), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error))
      assert.equal(error.code, 'ERR_IS_A_CLUSTER')
      assert.match(error.message, /(MOVED|CROSSSLOT).*connect with cluster: true\)$/)
      assert.equal(error.message.split('connect with cluster').length, 2, `said once: ${error.message}`)
      return true
    })
  } finally {
    await Promise.all([writer.close(), ring.close()])
  }
})
