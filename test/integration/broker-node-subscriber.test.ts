/**
 * The hub's node-level API the near cache builds on: a plain SUBSCRIBE to
 * `__redis__:invalidate` on one master's subscriber connection, that connection's CLIENT ID
 * for `CLIENT TRACKING on REDIRECT`, and its up/down state across a dropped connection.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Redis } from 'ioredis'
import { resolveOptions } from '../../src/options.ts'
import { createSubscriber, type NodeState, type RawPayload, type Subscriber } from '../../src/pubsub/index.ts'
import { ClusterTopology } from '../../src/topology/cluster.ts'
import { loadIORedis } from '../../src/topology/ioredis.ts'
import { ShardedTopology } from '../../src/topology/sharded.ts'
import type { RedisTopology } from '../../src/topology/types.ts'
import { inbox } from '../harness/inbox.ts'
import { startRedis } from '../harness/redis-server.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown> | unknown)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function hubOn(
  urls: string[],
  cluster: boolean,
): Promise<{ topology: RedisTopology; hub: Subscriber }> {
  const settings = resolveOptions({ url: urls, cluster, onError: () => {} })
  const ioredis = await loadIORedis()
  const topology = cluster
    ? ClusterTopology.fromUrls(ioredis, settings.servers, settings)
    : ShardedTopology.fromUrls(ioredis, settings.servers, settings)
  const hub = createSubscriber({
    topology: settings.topology,
    redis: async () => topology,
    connectTimeout: 5000,
    openingLimit: 6000,
    onError: () => {},
  })
  cleanups.push(
    () => topology.close(),
    () => hub.close(),
  )
  return { topology, hub }
}

function raw(url: string): Redis {
  const client = new Redis(url)
  client.on('error', () => {})
  cleanups.push(() => client.disconnect())
  return client
}

const keysOf = (payload: RawPayload) => (Array.isArray(payload) ? payload.map(String) : payload)

test('standalone: invalidations arrive on the node subscriber; state goes down and up around a restart', async () => {
  const server = await startRedis()
  cleanups.push(() => server.stop())
  const { topology, hub } = await hubOn([server.url], false)
  const [master] = await topology.masters()
  const node = hub.node(master!.id)
  const states: NodeState[] = []
  const stateChanges = inbox<NodeState>()
  node.onState((state) => {
    states.push(state)
    stateChanges.push(state)
  })

  const invalidations = inbox<RawPayload>()
  const subscription = node.subscribe('__redis__:invalidate', invalidations.push)
  await subscription.ready()
  assert.equal(node.state, 'up')
  const id = await node.clientId()
  assert.ok(Number.isInteger(id) && id > 0)

  const namespace = uniqueNamespace()
  const commands = raw(server.url) // stands for the near cache's command connection
  const writer = raw(server.url) // any other client, e.g. redis-cli
  assert.equal(
    await commands.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST', 'PREFIX', `${namespace}:`),
    'OK',
  )
  await writer.set(`${namespace}:a`, '1')
  await writer.set('outside-the-prefix', '1')
  await writer.mset(`${namespace}:b`, '1', `${namespace}:c`, '2')
  assert.deepEqual((await invalidations.until(2)).map(keysOf), [
    [`${namespace}:a`],
    [`${namespace}:b`, `${namespace}:c`],
  ])

  // The subscriber connection shares a channel registry with the hub's own channels.
  const messages = inbox<string>()
  const channel = hub.subscribe(`${namespace}:broker:x`, (p) => messages.push(p.toString()))
  await channel.ready()
  await hub.publish(`${namespace}:broker:x`, 'on the same connection')
  await messages.until(1)
  const subscribers = ((await writer.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string).trim().split('\n')
  assert.equal(subscribers.length, 1, 'one subscriber connection for the node')
  assert.match(subscribers[0]!, new RegExp(`^id=${id} .* sub=2 `))

  assert.deepEqual(states, ['up'])
  await server.stop()
  await stateChanges.until(2)
  assert.deepEqual(states, ['up', 'down'])
  assert.equal(node.state, 'down')
  await server.restart()
  await stateChanges.until(3)
  assert.deepEqual(states, ['up', 'down', 'up'])
  // 'up' means re-subscribed: the near cache re-reads the id and re-enables tracking with it.
  // (A restarted server counts client ids from 1 again, so the id may even be the same.)
  const newId = await node.clientId()
  const afterRestart = ((await writer.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string).trim().split('\n')
  assert.equal(afterRestart.length, 1)
  assert.match(afterRestart[0]!, new RegExp(`^id=${newId} .* sub=2 `), 'both channels re-subscribed')
  await commands.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', newId, 'BCAST', 'PREFIX', `${namespace}:`)
  await writer.set(`${namespace}:after`, '1')
  assert.deepEqual(keysOf((await invalidations.until(3))[2]!), [`${namespace}:after`])
  await hub.publish(`${namespace}:broker:x`, 'after restart')
  assert.deepEqual(await messages.until(2), ['on the same connection', 'after restart'])

  // FLUSHALL invalidates everything: a null payload.
  await writer.flushall()
  assert.equal((await invalidations.until(4))[3], null)

  // Unsubscribing leaves the channel on Redis (the other channel keeps the connection subscribed).
  subscription.unsubscribe()
  channel.unsubscribe()
  const sync = hub.subscribe(`${namespace}:sync`, () => {})
  await sync.ready()
  assert.deepEqual(await writer.call('PUBSUB', 'CHANNELS'), [`${namespace}:sync`])
})

test("cluster: a plain SUBSCRIBE to __redis__:invalidate on one master gets that master's invalidations; a killed connection comes back", async () => {
  const { cluster } = await testServers()
  const { topology, hub } = await hubOn(cluster, true)
  const masters = await topology.masters()
  const master = masters[1]!
  const node = hub.node(master.id)
  const stateChanges = inbox<NodeState>()
  node.onState(stateChanges.push)
  const invalidations = inbox<RawPayload>()
  await node.subscribe('__redis__:invalidate', invalidations.push).ready()
  const id = await node.clientId()

  const namespace = uniqueNamespace()
  // A key this master serves.
  let key = ''
  for (let i = 0; ; i++) {
    key = `${namespace}:k${i}`
    if ((await topology.batches([key]))[0]!.node === master.id) break
  }
  const [host, port] = master.id.split(':')
  const direct = raw(`redis://${host}:${port}`)
  const commands = raw(`redis://${host}:${port}`)
  await commands.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST', 'PREFIX', `${namespace}:`)
  await direct.set(key, '1')
  assert.deepEqual(keysOf((await invalidations.until(1))[0]!), [key])

  assert.deepEqual(stateChanges.items, ['up'])
  await direct.call('CLIENT', 'KILL', 'ID', id)
  assert.deepEqual(await stateChanges.until(3), ['up', 'down', 'up'])
  const newId = await node.clientId()
  assert.notEqual(newId, id)
  // Tracking is still on for the old id: turn it off first (Redis refuses a second PREFIX).
  await commands.call('CLIENT', 'TRACKING', 'off')
  await commands.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', newId, 'BCAST', 'PREFIX', `${namespace}:`)
  await direct.set(key, '2')
  assert.deepEqual(keysOf((await invalidations.until(2))[1]!), [key])
})

test('node() on the memory topology is a ConfigError', () => {
  const hub = createSubscriber({
    topology: 'memory',
    redis: () => Promise.reject(new Error('no redis')),
    connectTimeout: 100,
    openingLimit: 1100,
    onError: () => {},
  })
  assert.throws(() => hub.node('127.0.0.1:6379/0'), /memory topology has no Redis nodes/)
})
