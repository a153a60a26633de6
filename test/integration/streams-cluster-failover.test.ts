/**
 * A graceful `CLUSTER FAILOVER`, and the failback, take no node down (SPEC §1: a warning per node
 * per change of its state; §8: calls fail at once only while a node is known to be down). Redis
 * closes the connections of the clients blocked on a master that turns replica, and ioredis lets
 * go of its connection to it (a replica holds no slot); the node stays up throughout. Both were
 * counted as lost connections: the fleet announced the node down, and after the failback
 * publishes routed to it failed at once with NodeDownError.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet, TimeoutError } from '../../src/index.ts'
import { downAnnouncements, type FaultCluster, startFaultCluster, waitUntil } from '../harness/faults.ts'
import { inbox } from '../harness/inbox.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let cluster: FaultCluster
before(async () => {
  cluster = await startFaultCluster()
})
after(() => cluster?.stop())

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a failover and a failback under blocking reads announce no node down, and publishes land`, async () => {
    const namespace = uniqueNamespace('graceful')
    const watch = downAnnouncements()
    const fleet = createFleet({
      url: cluster.urls,
      cluster: true,
      namespace,
      transport,
      onError: watch.onError,
    })
    const controller = new AbortController()
    const consumed = inbox<unknown>()
    // Each n once, in the order first seen: a publish sent again below may land twice.
    const seen = new Set<unknown>()
    const streams = fleet.streams()
    /**
     * A publish during a failover may time out with outcome 'unknown' (Redis pauses the old
     * master's clients while it hands over, up to its failover timeout): within SPEC §8, so the
     * test does what a caller would, and sends it again.
     */
    const publish = async (n: number) => {
      try {
        await streams.publish({ n })
      } catch (error) {
        if (!(error instanceof TimeoutError && error.outcome === 'unknown')) throw error
        await streams.publish({ n })
      }
    }
    await streams.ensureGroup('g')
    // Both loops block on the main stream's master: their reads are what Redis cuts off.
    const loops = [
      streams.consume(
        'g',
        'c',
        (d) => {
          if (seen.has(d.envelope.n)) return
          seen.add(d.envelope.n)
          consumed.push(d.envelope.n)
        },
        { signal: controller.signal },
      ),
      streams.tailEvents(() => undefined, { signal: controller.signal }),
    ]
    try {
      await publish(0)
      assert.deepEqual(await consumed.until(1), [0])
      const master = await cluster.masterOf(`${namespace}:streams:events`)
      const replica = await cluster.replicaOf(master)
      await cluster.failover(replica)
      await publish(1)
      // The old master, now the replica of the new one, once in sync takes its slots back.
      assert.equal(await cluster.replicaOf(replica), master)
      await cluster.failover(master)
      for (let n = 2; n < 12; n++) await publish(n)
      assert.deepEqual(await consumed.until(12), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
      assert.deepEqual(watch.announced, [], 'no node went down')
    } finally {
      controller.abort()
      await Promise.all(loops)
      await fleet.close()
    }
  })
}

test('ioredis: a tail in a fleet that only tails follows its master killed and taken over', async () => {
  // Its blocking reads went to the dead master's address for good: a lost connection of a
  // dedicated connection re-read nothing, and the fleet sent no command that would have
  // (helper-212: 5 of 5, tail and tailEvents).
  const namespace = uniqueNamespace('killed')
  const publisher = createFleet({ url: cluster.urls, cluster: true, namespace, onError: () => {} })
  const reader = createFleet({ url: cluster.urls, cluster: true, namespace, onError: () => {} })
  const controller = new AbortController()
  const seen = inbox<unknown>()
  const tail = reader.streams().tail('ch', '0', (d) => seen.push(d.envelope.n), { signal: controller.signal })
  const master = await cluster.masterOf(`${namespace}:streams:channel:ch`)
  try {
    const streams = publisher.streams()
    await streams.publishToChannel('ch', { n: 0 })
    await seen.until(1)
    await cluster.killAndFailover(master)
    // The publisher's calls follow the takeover; a publish that failed is sent again.
    await waitUntil('a publish on the replica that took over', () => streams.publishToChannel('ch', { n: 1 }))
    await waitUntil('the tail reads from the replica that took over', async () => seen.items.includes(1))
  } finally {
    controller.abort()
    await tail
    await Promise.all([publisher.close(), reader.close()])
    await cluster.restart(master)
  }
})
