/**
 * A fleet on an injected ioredis client (`client`) keeps SPEC §8's fault behaviour, as a fleet
 * from a url does: its calls are timed out at `commandTimeout`, and fail at once with
 * NodeDownError (`'not-applied'`) while the server is known to be down. A reviewer found calls
 * on an injected client waiting out a paused server whole, and hanging for minutes on a dead
 * one (ioredis' own retries), with no warning. The user's own calls on the client are left as
 * the client's options make them.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'
import {
  ConnectionError,
  createFleet,
  type Fleet,
  NodeDownError,
  RedfleetError,
  TimeoutError,
} from '../../src/index.ts'
import { clientPause, waitUntil } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { settledWithin } from '../harness/settled.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const commandTimeout = 200
/** Far beyond a failure at once or a call's tries (3 × commandTimeout): a call still pending then hangs. */
const HANG = 20 * commandTimeout

let server: RedisServer
const clients: (Redis | Cluster)[] = []
const { cluster, fleets } = fileCluster()
before(async () => {
  server = await startRedis()
})
after(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
})

function injected(
  client: Redis | Cluster,
  reported: unknown[],
  namespace = uniqueNamespace(),
  timeout = commandTimeout,
): Fleet {
  const fleet = createFleet({
    client,
    namespace,
    commandTimeout: timeout,
    onError: (error) => reported.push(error),
  })
  fleets.push(fleet)
  return fleet
}

test('a paused server: the fleet times its calls out; the user’s own call on the client waits as it would', async () => {
  const client = new Redis(server.url)
  clients.push(client)
  const reported: unknown[] = []
  const store = injected(client, reported).store<number>()
  await store.set('k', 1)
  await clientPause(server, 6 * commandTimeout)
  const own = client.get('unrelated')
  const error = await settledWithin(store.get('k'), HANG)
  assert.ok(error instanceof TimeoutError, `a TimeoutError, got ${String(error)}`)
  assert.equal(error.outcome, 'unknown')
  assert.equal(await own, null, "the user's call was not timed out by redfleet")
  assert.equal(await store.get('k'), 1, 'served again once the pause ends')
})

test('a dead server: calls fail at once with NodeDownError, announced once; back when it is back', async () => {
  const client = new Redis(server.url)
  clients.push(client)
  const reported: unknown[] = []
  // Its calls wait for the node to be known down rather than time out first.
  const fleet = injected(client, reported, uniqueNamespace(), 50 * commandTimeout)
  const store = fleet.store<number>()
  await store.set('k', 1)
  await server.kill()
  // Made before the node is known down: it waits in the client's offline queue, then is
  // withdrawn, never written on the next connection.
  const early = store
    .setMany([
      ['early', 1],
      ['early2', 2],
    ])
    .then(
      () => undefined,
      (error: unknown) => error,
    )
  // The client's own reconnect attempts fail: the node is then known to be down, announced once.
  const down = (e: unknown) => e instanceof Error && / is down \(/.test(e.message)
  await waitUntil('the node announced down', async () => reported.some(down))
  for (const call of [store.get('k'), store.increment('n'), store.set('k', 2)]) {
    const error = await settledWithin(call, HANG)
    assert.ok(error instanceof NodeDownError, `a NodeDownError, got ${String(error)}`)
    assert.equal(error.outcome, 'not-applied')
  }
  const withdrawn = await early
  assert.ok(withdrawn instanceof NodeDownError, `the early setMany was withdrawn: ${String(withdrawn)}`)
  assert.equal(withdrawn.outcome, 'not-applied')
  const announced = reported.filter((e) => down(e) && !(e instanceof NodeDownError))
  assert.equal(announced.length, 1, 'one announcement, not one per call')
  await server.restart()
  const first = await waitUntil('the node back', async () => {
    const result = await settledWithin(store.increment('n'), HANG)
    return result instanceof NodeDownError ? undefined : result
  })
  assert.deepEqual(first, { value: 1 }, 'the refused increment was never sent: the first one counts 1')
  assert.equal(await store.get('early'), undefined, 'the withdrawn setMany was not written after the restart')
  await fleet.close()
  assert.equal(client.listenerCount('close'), 0, 'the fleet let go of the client when it closed')
  assert.equal(client.listenerCount('error'), 0)
})

test('a cluster master that is paused: calls on its keys are timed out', async () => {
  const client = new Cluster(cluster.urls)
  clients.push(client)
  const namespace = uniqueNamespace()
  const store = injected(client, [], namespace).store<number>()
  await store.set('k', 1)
  const master = client.slots[calculateSlot(`${namespace}:store:k`)]![0]!
  await clientPause({ port: Number(master.split(':').at(-1)) }, 6 * commandTimeout)
  const error = await settledWithin(store.get('k'), HANG)
  assert.ok(error instanceof TimeoutError, `a TimeoutError, got ${String(error)}`)
  assert.equal(await store.get('k'), 1, 'served again once the pause ends')
})

test('fleets with a near cache on one injected Cluster leave none of their listeners on it', async () => {
  const client = new Cluster(cluster.urls)
  clients.push(client)
  for (let i = 0; i < 3; i++) {
    const fleet = injected(client, [])
    const cache = fleet.cache({ near: { max: 10 } })
    await cache.write('k', i)
    await cache.read('k')
    await fleet.close()
  }
  for (const event of ['refresh', '+node', '-node']) {
    assert.equal(client.listenerCount(event), 0, `no '${event}' listener left`)
  }
})

const endings: [string, (client: Cluster, fleet: Fleet) => Promise<unknown>][] = [
  [
    'quit() once ready',
    async (client, fleet) => {
      await fleet.store().set('a', 1)
      await client.quit()
    },
  ],
  // ioredis sets it back to 'close' once its node pool drains, and emits nothing more.
  [
    'disconnect() once ready',
    async (client, fleet) => {
      await fleet.store().set('a', 1)
      client.disconnect()
    },
  ],
  // It stays 'disconnecting' for good.
  ['quit() while it connects', async (client) => client.quit()],
]
for (const [ending, end] of endings) {
  test(`a Cluster the user ended (${ending}): the fleet’s calls are refused, never left pending, nor those after them`, async () => {
    const client = new Cluster(cluster.urls)
    clients.push(client)
    const fleet = injected(client, [])
    const store = fleet.store<number>()
    const heard: unknown[] = []
    const cache = fleet.cache({ errorHandler: ({ exception }) => heard.push(exception) })
    await end(client, fleet)
    // Multi-key calls and ready() waited for a slot map from a client that emits nothing again;
    // a get of a key such a call held, and every cache call after a clear, waited behind them.
    const [getMany, get, ready, clear, read] = await Promise.all(
      [store.getMany(['a', 'b']), store.get('a'), fleet.ready(), cache.clear(), cache.read('k')].map((call) =>
        settledWithin(call, HANG),
      ),
    )
    for (const [what, error] of Object.entries({ getMany, ready })) {
      assert.ok(error instanceof ConnectionError, `${what}: a ConnectionError, got ${String(error)}`)
      assert.equal(error.outcome, 'not-applied', what)
    }
    // The get goes to the client: "Connection is closed.", or its deadline while it never connects.
    assert.ok(get instanceof RedfleetError, `get: a RedfleetError, got ${String(get)}`)
    // The cache is failsafe: its calls return, and the handler hears why.
    assert.deepEqual([clear, read], [{ value: undefined }, { value: undefined }])
    assert.equal(heard.length, 2)
    for (const error of heard) assert.ok(error instanceof RedfleetError, String(error))
  })
}

test('a call waiting for an injected Cluster to connect is refused when the user quits it', async () => {
  const client = new Cluster(cluster.urls)
  clients.push(client)
  const waiting = injected(client, []).store().getMany(['a', 'b'])
  await client.quit()
  const error = await settledWithin(waiting, HANG)
  assert.ok(error instanceof ConnectionError, `a ConnectionError, got ${String(error)}`)
  assert.equal(error.outcome, 'not-applied')
})
