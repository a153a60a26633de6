import assert from 'node:assert/strict'
import { after, afterEach, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { ConnectionError, createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { inbox } from '../harness/inbox.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

// A private server this file stops and restarts; on it every pub/sub connection is ours.
// Each test closes its fleets when it ends, so the next one sees only its own connections.
let server: RedisServer
let fleets: Fleet[] = []
before(async () => {
  server = await startRedis()
})
afterEach(async () => {
  await Promise.all(fleets.map((f) => f.close()))
  fleets = []
})
after(() => server.stop())

function fleet(
  namespace: string,
  options: Pick<FleetOptions, 'connectTimeout' | 'commandTimeout'> = {},
): Fleet {
  const made = createFleet({ url: server.url, namespace, onError: () => {}, ...options })
  fleets.push(made)
  return made
}

/** The server's pub/sub connections, from CLIENT LIST, as field maps. */
async function pubsubClients(): Promise<Record<string, string>[]> {
  const admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  try {
    const list = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string
    return list
      .split('\n')
      .filter(Boolean)
      .map((line) => Object.fromEntries(line.split(' ').map((field) => field.split('=') as [string, string])))
  } finally {
    admin.disconnect()
  }
}

async function admin<T>(...args: [string, ...(string | number)[]]): Promise<T> {
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  try {
    return (await client.call(...args)) as T
  } finally {
    client.disconnect()
  }
}

test('a publish while Redis is down resolves and reaches onError; after a restart subscriptions work again by themselves', async (t) => {
  const namespace = uniqueNamespace()
  const errors: unknown[] = []
  // A publish is one attempt (a retried message could overtake later ones): with Redis down it
  // gives up within connectTimeout + commandTimeout (SPEC §1), asserted with the same again as a
  // margin for a loaded machine. Without a bound it could wait in the offline queue for good.
  const timeouts = { connectTimeout: 1000, commandTimeout: 1000 }
  const giveUpBound = 2 * (timeouts.connectTimeout + timeouts.commandTimeout)
  const subscriberFleet = fleet(namespace, timeouts)
  const broker = subscriberFleet.broker({ channel: 'c', onError: (e) => errors.push(e) })
  const messages = inbox<string>()
  broker.subscribe(messages.push)
  const rooms = inbox<string>()
  await subscriberFleet.presence().subscribe('room', (p) => rooms.push(p.toString()))
  await broker.ready()
  await broker.publish('before')
  await messages.until(1)

  await server.stop()
  const started = performance.now()
  assert.equal(await broker.publish('while down'), undefined, 'publish resolves')
  const gaveUpIn = performance.now() - started
  t.diagnostic(`publish gave up in ${gaveUpIn.toFixed(0)} ms`)
  assert.ok(gaveUpIn < giveUpBound, `publish gave up in ${gaveUpIn.toFixed(0)} ms, bound ${giveUpBound} ms`)
  assert.equal(errors.length, 1)
  assert.ok(errors[0] instanceof ConnectionError, String(errors[0]))
  assert.match((errors[0] as Error).message, /broker\.publish 'c'/)

  await server.restart()
  // No user action: the subscriber connection reconnects and re-subscribes on its own;
  // ready() only waits for that.
  await broker.ready()
  const other = fleet(namespace)
  await other.broker({ channel: 'c' }).publish('after restart')
  await other.presence().publish('room', 'room after restart')
  assert.deepEqual(await messages.until(2), ['before', 'after restart'])
  assert.deepEqual(await rooms.until(1), ['room after restart'])

  // Still one subscriber connection for the fleet, holding both channels.
  const subscribers = (await pubsubClients()).filter((c) => Number(c.sub) > 0)
  assert.equal(subscribers.length, 1, JSON.stringify(subscribers))
  assert.equal(subscribers[0]!.sub, '2')
})

test('subscribing while Redis is down: ready/subscribe reject after connectTimeout, and the subscription goes live once Redis is up', async () => {
  const namespace = uniqueNamespace()
  await server.stop()
  try {
    const down = fleet(namespace, { connectTimeout: 300 })
    const broker = down.broker({ channel: 'late' })
    const messages = inbox<string>()
    broker.subscribe(messages.push)
    await assert.rejects(broker.ready(), ConnectionError)
    await assert.rejects(
      down.presence().subscribe('room', () => {}),
      ConnectionError,
    )
    await server.restart()
    // ready() keeps rejecting until the reconnect backoff comes round; the listener stays registered.
    const deadline = Date.now() + 5000
    for (;;) {
      try {
        await broker.ready()
        break
      } catch (error) {
        if (Date.now() > deadline) throw error
      }
    }
    await fleet(namespace).broker({ channel: 'late' }).publish('hello')
    assert.deepEqual(await messages.until(1), ['hello'])
    // The presence subscription that failed was removed: only the broker channel is subscribed.
    const channels = await admin<string[]>('PUBSUB', 'CHANNELS', `${namespace}:*`)
    assert.deepEqual(channels, [`${namespace}:broker:late`])
  } finally {
    await server.restart().catch(() => undefined)
  }
})

test('one subscriber connection per fleet; unsubscribing the last listener of a channel sends UNSUBSCRIBE', async () => {
  const namespace = uniqueNamespace()
  const shared = fleet(namespace)
  const a = shared.broker({ channel: 'a' })
  const b = shared.withNamespace('view').broker({ channel: 'b' })
  const stopA1 = a.subscribe(() => {})
  const stopA2 = a.subscribe(() => {})
  const stopB = b.subscribe(() => {})
  await Promise.all([a.ready(), b.ready()])
  const channelA = `${namespace}:broker:a`
  const channelB = `${namespace}:view:broker:b`
  assert.deepEqual(await admin('PUBSUB', 'NUMSUB', channelA, channelB), [channelA, 1, channelB, 1])
  const ours = (await pubsubClients()).filter((c) => Number(c.sub) > 0)
  assert.equal(ours.length, 1, 'both views, both channels, one connection')
  assert.equal(ours[0]!.sub, '2')

  // Redis handles one connection's commands in order: once a later SUBSCRIBE on the same
  // connection is confirmed, an UNSUBSCRIBE sent before it has been applied.
  const sync = async (name: string) => {
    const broker = shared.broker({ channel: name })
    broker.subscribe(() => {})
    await broker.ready()
  }
  stopA1()
  await sync('sync-1')
  assert.deepEqual(await admin('PUBSUB', 'NUMSUB', channelA), [channelA, 1], 'a listener is left')
  stopA2()
  await sync('sync-2')
  assert.deepEqual(await admin('PUBSUB', 'NUMSUB', channelA), [channelA, 0], 'the last listener left')
  stopB()
  await sync('sync-3')
  assert.deepEqual(((await admin<string[]>('PUBSUB', 'CHANNELS', `${namespace}:*`)) ?? []).sort(), [
    `${namespace}:broker:sync-1`,
    `${namespace}:broker:sync-2`,
    `${namespace}:broker:sync-3`,
  ])
})
