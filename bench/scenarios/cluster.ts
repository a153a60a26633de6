import { Cluster } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { startCluster } from '../../test/harness/redis-server.ts'
import { type Op, printPaired, type Scenario } from '../lib.ts'

const KEYS = 1000
const value = { id: 42, name: 'redfleet', tags: ['a', 'b', 'c'], nested: { ok: true, score: 12.5 } }
const text = JSON.stringify(value)
const keyOf = (i: number) => `k${i % KEYS}`

/**
 * The cache on a 3-master Redis Cluster (made with `redis-cli --cluster create`, as the tests
 * do) against raw ioredis Cluster clients (plain and auto-pipelining) doing the same
 * GET+JSON.parse / SET+JSON.stringify.
 * Printed like the throughput scenarios; it starts and stops its own cluster.
 */
async function measure(): Promise<Record<string, string | number>[]> {
  const cluster = await startCluster()
  const fleet = createFleet({ url: cluster.urls, cluster: true, namespace: 'bench-cluster' })
  const nodes = cluster.urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }))
  const raw = new Cluster(nodes)
  const auto = new Cluster(nodes, { enableAutoPipelining: true })
  try {
    const cache = fleet.cache()
    const rawKey = (i: number) => `raw-cluster:${keyOf(i)}`
    for (let i = 0; i < KEYS; i++) {
      await Promise.all([cache.write(keyOf(i), value), raw.set(rawKey(i), text)])
    }
    const reads = new Map<string, Op>([
      ['raw ioredis', async (i) => JSON.parse((await raw.get(rawKey(i)))!)],
      ['ioredis autopipelining', async (i) => JSON.parse((await auto.get(rawKey(i)))!)],
      ['redfleet', (i) => cache.read(keyOf(i))],
    ])
    const writes = new Map<string, Op>([
      ['raw ioredis', (i) => raw.set(rawKey(i), JSON.stringify(value))],
      ['ioredis autopipelining', (i) => auto.set(rawKey(i), JSON.stringify(value))],
      ['redfleet', (i) => cache.write(keyOf(i), value)],
    ])
    const clients = ['raw ioredis', 'ioredis autopipelining']
    await printPaired('cluster cache read hit', reads, [1, 256], clients)
    await printPaired('cluster cache write', writes, [1, 256], clients)
  } finally {
    await fleet.close()
    raw.disconnect()
    auto.disconnect()
    await cluster.stop()
  }
  return []
}

export const scenarios: Scenario[] = [{ name: 'cluster cache', measure }]
