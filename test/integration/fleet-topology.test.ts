import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { startRedis } from '../harness/redis-server.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Every key on one server in `namespace`, via SCAN (never KEYS). */
async function keysOn(url: string, pattern: string): Promise<string[]> {
  const client = new Redis(url)
  try {
    const found: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      found.push(...batch)
    } while (cursor !== '0')
    return found
  } finally {
    client.disconnect()
  }
}

describe('sharded ring on three real servers', () => {
  const fleets: ReturnType<typeof createFleet>[] = []
  after(() => Promise.all(fleets.map((f) => f.close())))

  test('reordering the url list moves no key; keys spread over all shards', async () => {
    const { shards } = await testServers()
    const namespace = uniqueNamespace()
    const writer = createFleet({ url: shards, namespace })
    const reader = createFleet({ url: [shards[2]!, shards[0]!, shards[1]!], namespace })
    fleets.push(writer, reader)
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
    await writer.store().setMany(keys.map((k, i) => [k, i]))
    for (const [i, key] of keys.entries()) assert.equal(await reader.store().get(key), i)
    const perShard = await Promise.all(shards.map((url) => keysOn(url, `${namespace}:*`)))
    assert.equal(perShard.flat().length, 300, 'every key stored exactly once')
    for (const keysHere of perShard)
      assert.ok(keysHere.length > 50, `a shard holds only ${keysHere.length} keys`)
  })

  test('keys with one hash tag land on one shard; every key is under the namespace', async () => {
    const { shards } = await testServers()
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: shards, namespace })
    fleets.push(fleet)
    await fleet
      .store()
      .setMany(Array.from({ length: 50 }, (_, i): [string, number] => [`{cart:9}:line${i}`, i]))
    const perShard = await Promise.all(shards.map((url) => keysOn(url, `${namespace}:*`)))
    assert.deepEqual(
      perShard.map((keys) => keys.length).sort((a, b) => a - b),
      [0, 0, 50],
    )
    for (const key of perShard.flat()) assert.ok(key.startsWith(`${namespace}:`), key)
  })
})

describe('Redis Cluster', () => {
  test('tagged keys share a slot; getMany across slots never fails with CROSSSLOT', async () => {
    const { cluster } = await testServers()
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: cluster, cluster: true, namespace })
    try {
      const store = fleet.store<number>()
      await store.setMany(Array.from({ length: 20 }, (_, i): [string, number] => [`{t}x${i}`, i]))
      await store.setMany(Array.from({ length: 200 }, (_, i): [string, number] => [`spread${i}`, i]))
      const probe = new Cluster([{ host: '127.0.0.1', port: Number(new URL(cluster[0]!).port) }])
      try {
        await probe.ping()
        const tagged = (
          await Promise.all(probe.nodes('master').map((n) => n.keys(`${namespace}:*{t}*`)))
        ).flat()
        assert.equal(tagged.length, 20)
        assert.equal(new Set(tagged.map((k) => calculateSlot(k))).size, 1)
      } finally {
        probe.disconnect()
      }
      const values = await store.getMany(Array.from({ length: 200 }, (_, i) => `spread${i}`))
      assert.deepEqual(
        values,
        Array.from({ length: 200 }, (_, i) => i),
      )
    } finally {
      await fleet.close()
    }
  })
})

describe('connections', () => {
  test('pool.size opens that many command connections per node; ready() PINGs them all', async () => {
    // A server of its own: on the run's shared one, other files' connections come and go.
    const server = await startRedis()
    const observer = new Redis(server.url)
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), pool: { size: 3 } })
    try {
      const count = async () => ((await observer.client('LIST')) as string).split('\n').filter(Boolean).length
      const before = await count()
      await fleet.ready()
      assert.equal((await count()) - before, 3)
    } finally {
      await fleet.close()
      observer.disconnect()
      await server.stop()
    }
  })

  test('an injected ioredis client is used and never closed by the fleet', async () => {
    const { standalone } = await testServers()
    const client = new Redis(standalone)
    const fleet = createFleet({ client, namespace: uniqueNamespace() })
    try {
      assert.equal(fleet.topology, 'standalone')
      await fleet.store().set('k', 'via injected client')
      assert.equal(await fleet.store().get('k'), 'via injected client')
      await fleet.close()
      assert.equal(await client.ping(), 'PONG')
    } finally {
      client.disconnect()
    }
  })

  test('an injected Cluster client gives the cluster topology', async () => {
    const { cluster } = await testServers()
    const client = new Cluster(cluster.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })))
    const fleet = createFleet({ client, namespace: uniqueNamespace() })
    try {
      assert.equal(fleet.topology, 'cluster')
      await fleet.store().setMany([
        ['a', 1],
        ['b', 2],
      ])
      assert.deepEqual(await fleet.store().getMany(['a', 'b']), [1, 2])
      await fleet.close()
      assert.equal(await client.ping(), 'PONG')
    } finally {
      client.disconnect()
    }
  })
})
