/**
 * A cluster that answers but whose state is 'fail' (a slot served by no one) is not an
 * unreachable cluster: the slot map loads, commands reach the nodes, and Redis refuses them with
 * CLUSTERDOWN. A fleet must say that (a transient error naming CLUSTERDOWN, not a timeout),
 * never that no seed answered, and must work again, without being recreated, once the slot is
 * served; `ready()` says the cluster is down meanwhile (every node still answers PING). This is
 * also what a ready check that merely fails (CLUSTER INFO timing out under load) used to turn
 * into "unreachable". Runs on a private 3-master cluster, since it removes a slot.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { Cluster } from 'ioredis'
import { createCluster as createCluster5 } from 'node-redis5'
import { createCluster as createCluster6 } from 'node-redis6'
import { isTransient } from '../../src/errors.ts'
import { CommandError, ConnectionError, createFleet } from '../../src/index.ts'
import { loadIORedis } from '../../src/topology/ioredis.ts'
import { command, info, waitUntil } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

await loadIORedis()

const { cluster, fleets } = fileCluster()

/** Every node reports cluster_state:ok in CLUSTER INFO. */
async function untilStateOk(): Promise<void> {
  await waitUntil('cluster_state:ok on every node', async () => {
    const views = await Promise.all(cluster.servers.map((s) => info(s.port, 'cluster')))
    return views.every((v) => v.get('cluster_state') === 'ok')
  })
}

/**
 * Takes SLOT away on every node, until every node's state is fail. A node that let go of it
 * gives it back to its owner on a gossip message the owner sent before letting go itself (a
 * node takes a slot from any claim newer than its own empty view, and an owner that stopped
 * claiming it tells no one): such a node is told to let go again.
 */
async function untilServedByNone(): Promise<void> {
  await waitUntil('cluster_state:fail on every node', async () => {
    const views = await Promise.all(cluster.servers.map((s) => info(s.port, 'cluster')))
    const serving = cluster.servers.filter((_, i) => views[i]!.get('cluster_state') !== 'fail')
    // DELSLOTS of a slot a node has no owner for is refused: nothing to take away there.
    await Promise.all(serving.map((s) => command(s.port, 'CLUSTER', 'DELSLOTS', SLOT).catch(() => undefined)))
    return serving.length === 0
  })
}

/** The port of the master serving `slot` now. */
async function ownerOf(slot: number): Promise<number> {
  const ranges = (await command(cluster.servers[0]!.port, 'CLUSTER', 'SLOTS')) as [
    number,
    number,
    [string, number],
  ][]
  const range = ranges.find(([from, to]) => from <= slot && slot <= to)
  assert.ok(range, `slot ${slot} has an owner`)
  return range[2][1]
}

/** The slot of hash tag `{t}`, the one these tests take away. */
const SLOT = calculateSlot('t')

/**
 * Runs `during` while SLOT is served by no master: every node forgets who serves it, full
 * coverage is lost and the state turns 'fail'. Then the slot goes back to its owner, and the
 * cluster is ok again before this returns.
 */
async function whileStateFail(during: () => Promise<void>): Promise<void> {
  const owner = await ownerOf(SLOT)
  try {
    await untilServedByNone()
    await during()
  } finally {
    await command(owner, 'CLUSTER', 'ADDSLOTS', SLOT)
    await untilStateOk()
  }
}

test('cluster_state:fail: the first command of a new fleet fails with CLUSTERDOWN, not "unreachable", and the fleet heals by itself', async (t) => {
  // `{t}` is the hash tag of the key the store writes, so the removed slot is the key's own.
  assert.notEqual(calculateSlot('u'), SLOT)
  const reported: unknown[] = []
  const fleet = createFleet({
    url: cluster.urls,
    cluster: true,
    namespace: uniqueNamespace(),
    // One attempt: the assertion is about what one try says, not the retry policy's patience.
    retry: { attempts: 1 },
    // The connect ends well within it even on a loaded machine: the answer is Redis', not a timeout.
    commandTimeout: 10_000,
    onError: (error) => reported.push(error),
  })
  fleets.push(fleet)
  const store = fleet.store<number>()

  await whileStateFail(async () => {
    const started = performance.now()
    const error = await store.set('{t}k', 1).then(
      () => assert.fail('a write to a cluster whose state is fail succeeded'),
      (e: unknown) => e,
    )
    const ms = performance.now() - started
    t.diagnostic(`${ms.toFixed(0)} ms: ${String(error)}`)
    assert.ok(!(error instanceof ConnectionError), `not a connection failure: ${String(error)}`)
    assert.ok(error instanceof CommandError, `a typed error: ${String(error)}`)
    assert.match(error.message, /CLUSTERDOWN/)
    assert.match(error.message, /store\.set '\{t\}k'/, 'names the operation and the key')
    assert.ok(isTransient(error), 'CLUSTERDOWN is transient: the retry policy may try again')
    // A key whose slot is served: Redis refuses it all the same while the state is fail.
    const other = await store.get('{u}k').then(
      () => assert.fail('a read from a cluster whose state is fail succeeded'),
      (e: unknown) => e,
    )
    t.diagnostic(String(other))
    assert.ok(other instanceof CommandError, `a typed error: ${String(other)}`)
    assert.match(other.message, /CLUSTERDOWN/)
    // Every node answers PING: ready() asks for the cluster's state as well.
    await assert.rejects(fleet.ready(), clusterDownReady)
    for (const e of reported) assert.doesNotMatch(String(e), /unreachable|no seed answered/)
  })

  // The same fleet, not a new one, once the slot is served again.
  const healing = performance.now()
  await waitUntil('the fleet to write again', () =>
    store.set('{t}k', 2).then(
      () => true,
      () => false,
    ),
  )
  t.diagnostic(`writes again ${(performance.now() - healing).toFixed(0)} ms after cluster_state:ok`)
  assert.equal(await store.get('{t}k'), 2)
  await fleet.ready()
  for (const e of reported) assert.doesNotMatch(String(e), /unreachable|no seed answered/)
})

/** What ready() rejects with while the cluster's state is fail. */
function clusterDownReady(error: unknown): true {
  assert.ok(error instanceof ConnectionError, String(error))
  assert.match(error.message, /the Redis Cluster is down: .* cluster_state is fail/)
  assert.equal(error.outcome, 'not-applied')
  return true
}

/** A node-redis cluster of either version, as these tests use it. */
interface NodeRedisCluster {
  on(event: 'error', listener: (error: unknown) => void): unknown
  destroy(): unknown
}

const NODE_REDIS_CLUSTERS: Record<string, (urls: string[]) => NodeRedisCluster> = {
  'node-redis 5': (urls) => createCluster5({ rootNodes: urls.map((url) => ({ url })) }),
  'node-redis 6': (urls) => createCluster6({ rootNodes: urls.map((url) => ({ url })) }),
}

for (const [version, createCluster] of Object.entries(NODE_REDIS_CLUSTERS)) {
  test(`a fleet on an injected ${version} cluster: ready() says the cluster is down while its state is fail`, async () => {
    const client = createCluster(cluster.urls)
    client.on('error', () => {})
    const fleet = createFleet({ client, namespace: uniqueNamespace(), onError: () => {} })
    fleets.push(fleet)
    try {
      await fleet.ready()
      await whileStateFail(() => assert.rejects(fleet.ready(), clusterDownReady))
      await fleet.ready()
    } finally {
      await fleet.close()
      client.destroy()
    }
  })
}

test('an injected Cluster client whose ready check fails: ready() says so, not that no seed answered', async (t) => {
  // ioredis' defaults (enableReadyCheck on: the user's choice); lazy, so that it first connects
  // once the state is fail.
  const seeds = cluster.urls.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) }))
  const client = new Cluster(seeds, { lazyConnect: true })
  client.on('error', () => {})
  const fleet = createFleet({ client, namespace: uniqueNamespace(), onError: () => {} })
  fleets.push(fleet)
  t.after(() => client.disconnect())
  await whileStateFail(async () => {
    const error = await fleet.ready().then(
      () => assert.fail('ready() resolved although the client never became ready'),
      (e: unknown) => e,
    )
    t.diagnostic(String(error))
    assert.ok(error instanceof ConnectionError, String(error))
    assert.match(error.message, /ready check failed/)
    assert.doesNotMatch(error.message, /unreachable|no seed answered/)
  })
  await waitUntil('the injected client to become ready', () =>
    fleet.ready().then(
      () => true,
      () => false,
    ),
  )
})
