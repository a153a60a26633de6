/**
 * A master that freezes (SIGSTOP: its connections stay open, nothing answers) and is taken over
 * by its replica: its slots' calls go to the new master soon after (SPEC §8), not once the old
 * one wakes. A cluster client learns of a new master from a MOVED, or from a connection lost,
 * and a frozen master sends neither: each call to it only timed out, for as long as it stayed
 * frozen. A call that times out now makes the fleet re-read the slot map.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setImmediate } from 'node:timers/promises'
import { createFleet, type Fleet, type FleetOptions, type Store } from '../../src/index.ts'
import {
  command,
  type FaultCluster,
  info,
  startFaultCluster,
  waitForRole,
  waitUntil,
} from '../harness/faults.ts'
import { socketsTo } from '../harness/sockets.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const connectTimeout = 1000
const commandTimeout = 500
/**
 * A call to the frozen master times out (commandTimeout); the slot map is re-read, asking a node
 * that may be the frozen one first (its read ends at connectTimeout) and then another
 * (commandTimeout); the next call goes to the new master. Asserted with twice that as a margin
 * for a loaded machine, and for the retries' backoff.
 */
const FOLLOWS = 2 * (connectTimeout + 3 * commandTimeout)
/** Without the re-read, the calls fail for as long as the old master stays frozen: longer than this. */
const FROZEN_FOR = 3 * FOLLOWS

let cluster: FaultCluster
before(async () => {
  cluster = await startFaultCluster()
})
after(() => cluster?.stop())

function clusterFleet(
  transport: FleetOptions['transport'],
  namespace: string,
  options: Partial<FleetOptions> = {},
): Fleet {
  return createFleet({
    url: cluster.urls,
    cluster: true,
    namespace,
    transport,
    connectTimeout,
    commandTimeout,
    onError: () => {},
    ...options,
  })
}

/** Sets `key` until a set succeeds, or `until` passes; returns when the last attempt ended. */
async function setUntilDone(
  store: Store<string>,
  key: string,
  until: number,
): Promise<{ done: boolean; at: number }> {
  for (;;) {
    const done = await store.set(key, 'after').then(
      () => true,
      () => false,
    )
    const at = performance.now()
    if (done || at > until) return { done, at }
  }
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: the slots of a frozen master taken over by its replica are written to the new master`, async (t) => {
    const namespace = uniqueNamespace('frozen')
    const fleet = clusterFleet(transport, namespace)
    const store = fleet.store<string>()
    // On the master of slot 0 (676 here), which CLUSTER SLOTS names first: node-redis re-read the
    // slot map from its first connected master, and from a frozen one that read never ended.
    const key = 'k{low10}'
    const full = `${namespace}:store:${key}`
    try {
      await store.set(key, 'before')
      const master = await cluster.masterOf(full)
      const replica = await cluster.replicaOf(master)
      const pid = Number((await info(master.port, 'server')).get('process_id'))
      process.kill(pid, 'SIGSTOP')
      let result: { done: boolean; at: number }
      let tookOver = 0
      try {
        await command(replica.port, 'CLUSTER', 'FAILOVER', 'TAKEOVER')
        await waitForRole(replica, 'master')
        tookOver = performance.now()
        result = await setUntilDone(store, key, tookOver + FROZEN_FOR)
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      await cluster.waitUntilOk()
      assert.ok(result.done, `no set succeeded within ${FROZEN_FOR} ms of the takeover`)
      const took = result.at - tookOver
      t.diagnostic(`the first set that succeeded ended ${took.toFixed(0)} ms after the takeover`)
      assert.ok(took < FOLLOWS, `the first set that succeeded ended ${took.toFixed(0)} ms after the takeover`)
      assert.equal(await store.get(key), 'after')
    } finally {
      await fleet.close()
    }
  })
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a fleet closed while a master is frozen leaves no socket to it`, async () => {
    const namespace = uniqueNamespace('frozen-close')
    const key = `k{${transport}}`
    const master = await cluster.masterOf(`${namespace}:store:${key}`)
    const pid = Number((await info(master.port, 'server')).get('process_id'))
    // The harness's own connections to it are closed first: only the fleet's are counted.
    await waitUntil('no socket to the master', async () => socketsTo(master.port).length === 0)
    const fleet = clusterFleet(transport, namespace, { retry: { attempts: 1 } })
    const store = fleet.store<string>()
    await store.set(key, 'before')
    assert.ok(socketsTo(master.port).length > 0, 'the fleet is connected to the master')
    process.kill(pid, 'SIGSTOP')
    try {
      // A call the frozen master never answers stays in its connection's queue.
      await assert.rejects(store.set(key, 'frozen'), { code: 'ERR_TIMEOUT' })
      await fleet.close()
      // A connection ended by close is destroyed DISCONNECT_TIMEOUT (1 ms) later, not in the
      // same turn: waited for, within connectTimeout. One kept open by the frozen master stays.
      const deadline = performance.now() + connectTimeout
      while (socketsTo(master.port).length > 0 && performance.now() < deadline) await setImmediate()
      assert.equal(socketsTo(master.port).length, 0, 'sockets to the frozen master after close')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    await cluster.waitUntilOk()
  })
}
