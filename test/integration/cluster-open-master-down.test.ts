/**
 * A fleet (default transport) opened on a cluster one master of which is already down (SPEC §8):
 * the first calls to that master's slots were never sent, since no connection to it ever became
 * ready, so they fail 'not-applied'. They used to fail "Connection is closed." with outcome
 * 'unknown': an increment's caller was told its write may have landed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConnectionError, createFleet } from '../../src/index.ts'
import { keySlot } from '../../src/topology/slot.ts'
import { command } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleets } = fileCluster()

/** The port of the master serving `key`'s slot, from CLUSTER SLOTS of `port`. */
async function portOf(port: number, key: string): Promise<number> {
  const slot = keySlot(key)
  const ranges = (await command(port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
  return ranges.find(([from, to]) => from <= slot && slot <= to)![2][1]
}

test('calls to a master down since the fleet opened fail not-applied, never unknown', async () => {
  const [alive, other, down] = cluster.servers as [
    (typeof cluster.servers)[0],
    (typeof cluster.servers)[0],
    (typeof cluster.servers)[0],
  ]
  for (const server of [alive, other])
    await command(server.port, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no')
  await down.stop()
  const namespace = uniqueNamespace()
  const fleet = createFleet({
    url: [alive.url, other.url],
    cluster: true,
    namespace,
    commandTimeout: 500,
    retry: { attempts: 1 },
    onError: () => undefined,
  })
  fleets.push(fleet)
  const store = fleet.store<number>()
  const names = Array.from({ length: 40 }, (_, n) => `k${n}`)
  const ports = await Promise.all(names.map((name) => portOf(alive.port, `${namespace}:store:${name}`)))
  const lost = names.filter((_, i) => ports[i] === down.port)
  const served = names.find((_, i) => ports[i] !== down.port)!
  assert.ok(lost.length >= 3)
  // ready() waits for every master: it names the down one.
  await assert.rejects(fleet.ready(), /cannot reach Redis at/)
  for (const name of lost) {
    const error = await store.increment(name).catch((e: unknown) => e)
    assert.ok(error instanceof ConnectionError, String(error))
    assert.equal(error.outcome, 'not-applied', `${name}: ${error.message}`)
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${down.port}`))
  }
  assert.equal(await store.increment(served), 1, 'the other masters still answer')
})
