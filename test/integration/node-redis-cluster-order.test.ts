/**
 * On a node-redis cluster, a slot's commands go on its master's own connection once that one is
 * ready, and through the cluster client before: the calls made while it connects must still
 * reach Redis before the calls made after it is ready (SPEC §2 call order, §4 order per
 * publisher). A fleet that has just opened sends a burst while its masters connect, then
 * another a few ms later, when they may just have become ready.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { createFleet, type FleetOptions } from '../../src/index.ts'
import { waitUntil } from '../harness/faults.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Bursts per run, and how long after the first the second is sent, in ms (the window moves with load). */
const GAPS = [0, 1, 2, 3, 4, 5, 6, 8]

const options = async (): Promise<FleetOptions> => {
  const { cluster } = await testServers()
  return { url: cluster, cluster: true, transport: 'node-redis' }
}

test("a new fleet on a node-redis cluster applies one key's writes in call order while its masters connect", async () => {
  const base = await options()
  for (const gap of GAPS) {
    const fleet = createFleet({ ...base, namespace: uniqueNamespace() })
    try {
      const store = fleet.store<number>()
      const calls: Promise<unknown>[] = []
      for (let i = 0; i < 10; i++) calls.push(store.set('k', i))
      await delay(gap)
      for (let i = 10; i < 20; i++) calls.push(store.set('k', i))
      await Promise.all(calls)
      assert.equal(await store.get('k'), 19, `the last write wins (second burst ${gap} ms after the first)`)
    } finally {
      await fleet.close()
    }
  }
})

test('a new publisher on a node-redis cluster: every subscriber sees its messages in the order published', async () => {
  const base = await options()
  for (const gap of GAPS) {
    const namespace = uniqueNamespace()
    const subscriber = createFleet({ ...base, namespace })
    const publisher = createFleet({ ...base, namespace })
    try {
      const got: number[] = []
      const listening = subscriber.broker({ channel: 'o' })
      listening.subscribe((message) => {
        got.push(Number(message))
      })
      await listening.ready()
      const broker = publisher.broker({ channel: 'o' })
      const published: Promise<void>[] = []
      for (let i = 0; i < 10; i++) published.push(broker.publish(String(i)))
      await delay(gap)
      for (let i = 10; i < 20; i++) published.push(broker.publish(String(i)))
      await Promise.all(published)
      await waitUntil('every message delivered', async () => got.length >= 20)
      assert.deepEqual(
        got,
        Array.from({ length: 20 }, (_, i) => i),
        `second burst ${gap} ms after the first`,
      )
    } finally {
      await Promise.all([subscriber.close(), publisher.close()])
    }
  }
})
