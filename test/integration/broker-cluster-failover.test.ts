/**
 * A broker subscription made while its channel's cluster master is dead goes live once a replica
 * has taken the slot over (SPEC §4: subscriptions "are re-established automatically"). The
 * fleet had no subscriber connection to that master yet, so there is no connection to lose: each
 * attempt to open one fails, and those failures must make the hub look for the slot's new owner
 * as a dropped connection does.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { type FaultCluster, startFaultCluster, waitForRole, waitUntil } from '../harness/faults.ts'
import { inbox } from '../harness/inbox.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let cluster: FaultCluster
before(async () => {
  cluster = await startFaultCluster()
})
after(() => cluster?.stop())

test('a subscription made while its master is down goes live after the failover', async () => {
  const namespace = uniqueNamespace('failover')
  const options = { url: cluster.urls, cluster: true, namespace, onError() {} }
  const subscriber = createFleet(options)
  const publisher = createFleet(options)
  try {
    await Promise.all([subscriber.ready(), publisher.ready()])
    const master = await cluster.masterOf(`${namespace}:broker:events`)
    const replica = await cluster.replicaOf(master)
    await cluster.kill(master)
    const broker = subscriber.broker()
    const received = inbox<string>()
    broker.subscribe(received.push)
    await waitForRole(replica, 'master')
    await cluster.waitUntilOk()
    // ready() rejects while the subscription is not live; it is asked again until it is.
    await waitUntil('the subscription is live', () => broker.ready().then(() => true))
    await publisher.broker().publish('after the failover')
    assert.deepEqual(await received.until(1), ['after the failover'])
  } finally {
    await Promise.all([subscriber.close(), publisher.close()])
  }
})
