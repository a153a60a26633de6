/**
 * Subscriptions made and dropped while the subscriber connection is killed over and over (CLIENT
 * KILL TYPE pubsub, as a proxy reset or a server-side timeout does): nothing the user did failed,
 * so onError hears nothing, and every subscription is live again afterwards. A SUBSCRIBE written
 * to a socket that was lost but not yet closed waited in ioredis' offline queue and went out on
 * the next connection ahead of the CLIENT ID the hub sends first, which a subscribed RESP2
 * connection refuses ("client id failed"). The server is this file's own: the kills would cut
 * every other file's subscribers.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { inbox } from '../harness/inbox.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

/** Kills (rounds), and subscribe/unsubscribe steps between two kills. */
const ROUNDS = 60
const STEPS = 20
const CHANNELS = 30

test('subscribe and unsubscribe while the subscriber connection is killed again and again: no error is reported', async () => {
  const reported: string[] = []
  const fleet = createFleet({
    url: server.url,
    namespace: uniqueNamespace('churn'),
    onError: (error, { op }) => reported.push(`${op}: ${String(error)}`),
  })
  const admin = new Redis(server.url)
  const unsubscribes = new Map<number, () => void>()
  try {
    // A fixed walk (no Math.random): channel i of step s.
    for (let round = 0; round < ROUNDS && reported.length === 0; round++) {
      for (let step = 0; step < STEPS; step++) {
        const n = (round * 7 + step * 13) % CHANNELS
        const unsubscribe = unsubscribes.get(n)
        if (unsubscribe) {
          unsubscribe()
          unsubscribes.delete(n)
        } else {
          unsubscribes.set(
            n,
            fleet.broker({ channel: `c${n}` }).subscribe(() => {}),
          )
        }
        // 0 to 4 ms between steps: the kill's socket events land between them, at every point
        // of the reconnect.
        await new Promise((resolve) => setTimeout(resolve, (round + step) % 5))
      }
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    }
    assert.deepEqual(reported, [])
    // And the hub is whole: a channel subscribed now is live and delivers.
    const broker = fleet.broker({ channel: 'after' })
    const received = inbox<string>()
    broker.subscribe(received.push)
    await broker.ready()
    await broker.publish('m')
    assert.deepEqual(await received.until(1), ['m'])
  } finally {
    admin.disconnect()
    await fleet.close()
  }
})
