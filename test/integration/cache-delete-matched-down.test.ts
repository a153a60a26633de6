/**
 * `deleteMatched` and `clear` with one master down (SIGKILL), on a ring and on a cluster: the
 * live masters' keys are deleted, so the call is partly applied, and says so: it fails (here,
 * through an errorHandler that throws, as Rails' raise mode) with `outcome: 'unknown'`, never
 * resolving as if the namespace were cleared, nor claiming that nothing was applied.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { type Cache, ConnectionError, createFleet, type Fleet } from '../../src/index.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleets } = fileCluster()
const servers: RedisServer[] = []
after(async () => {
  await Promise.all(fleets.map((fleet) => fleet.close()))
  await Promise.all(servers.map((server) => server.stop()))
})

/** A cache whose failures reject (errorHandler rethrows), with keys on every master. */
async function filled(fleet: Fleet): Promise<Cache> {
  fleets.push(fleet)
  const cache = fleet.cache({
    errorHandler: ({ exception }) => {
      throw exception
    },
  })
  await cache.writeMulti(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`a${i}`, i])))
  return cache
}

async function assertPartlyApplied(call: Promise<unknown>, what: string): Promise<void> {
  const error = await call.then(
    (value) => assert.fail(`${what} resolved ${String(value)} with a master down`),
    (e: unknown) => e,
  )
  assert.ok(error instanceof ConnectionError, `${what}: ${String(error)}`)
  assert.equal(error.outcome, 'unknown', `${what}: ${error.message}`)
}

test('a ring with one server down: deleteMatched and clear fail as partly applied', async () => {
  servers.push(await startRedis(), await startRedis())
  const [live, down] = servers as [RedisServer, RedisServer]
  const cache = await filled(createFleet({ url: [live.url, down.url], namespace: uniqueNamespace() }))
  await down.kill()
  await assertPartlyApplied(cache.deleteMatched('a1*'), 'deleteMatched')
  await assertPartlyApplied(cache.clear(), 'clear')
})

test('a cluster with one master down: deleteMatched and clear fail as partly applied, not resolve', async () => {
  const cache = await filled(createFleet({ url: cluster.urls, cluster: true, namespace: uniqueNamespace() }))
  await cluster.servers[1]!.kill()
  await assertPartlyApplied(cache.deleteMatched('a1*'), 'deleteMatched')
  await assertPartlyApplied(cache.clear(), 'clear')
})
