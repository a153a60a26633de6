import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createClient as createClient5, createCluster } from 'node-redis5'
import { createClient as createClient6 } from 'node-redis6'
import { ConfigError, ConnectionError, createFleet, RedfleetError, TimeoutError } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** What these tests do with a client of either version. */
interface Client {
  readonly isOpen: boolean
  connect(): Promise<unknown>
  sendCommand(args: string[]): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  destroy(): void
}

const VERSIONS: Record<string, (url: string) => Client> = {
  'node-redis 5': (url) => createClient5({ url }),
  'node-redis 6': (url) => createClient6({ url }),
}

for (const [version, createClient] of Object.entries(VERSIONS)) {
  describe(`a fleet on an injected ${version} client`, () => {
    const clients: Client[] = []
    const open = (url: string) => {
      const client = createClient(url)
      client.on('error', () => undefined)
      clients.push(client)
      return client
    }
    after(() => {
      for (const client of clients) if (client.isOpen) client.destroy()
    })

    test('runs store commands on a client not connected yet, and leaves it open on close', async () => {
      const client = open((await testServers()).standalone)
      const fleet = createFleet({ client, namespace: uniqueNamespace() })
      assert.equal(fleet.topology, 'standalone')
      const store = fleet.store<{ n: number }>()
      await store.set('a', { n: 1 })
      await store.set('b', { n: 2 }, { ttl: 60_000 })
      assert.deepEqual(await store.getMany(['a', 'b', 'c']), [{ n: 1 }, { n: 2 }, undefined])
      assert.equal(await store.increment('count', 5), 5)
      assert.equal(await store.delete('a'), true)
      await fleet.ready()
      await fleet.close()
      assert.equal(client.isOpen, true)
    })

    test('times a command out after commandTimeout (TimeoutError), node-redis 6 default timer off', async () => {
      const client = open((await testServers()).standalone)
      await client.connect()
      const fleet = createFleet({ client, namespace: uniqueNamespace(), commandTimeout: 100 })
      const pauser = open((await testServers()).standalone)
      await pauser.connect()
      try {
        await fleet.store().get('warm')
        await pauser.sendCommand(['CLIENT', 'PAUSE', '600', 'ALL'])
        await assert.rejects(fleet.store({ retry: { attempts: 1 } }).get('k'), TimeoutError)
      } finally {
        await pauser.sendCommand(['CLIENT', 'UNPAUSE'])
        await fleet.close()
      }
    })

    test('a Redis that went away fails calls with ConnectionError, not a hang', async () => {
      const server: RedisServer = await startRedis()
      const client = open(server.url)
      await client.connect()
      const fleet = createFleet({ client, namespace: uniqueNamespace(), commandTimeout: 300 })
      try {
        await fleet.store().set('k', 1)
        await server.stop()
        await assert.rejects(fleet.store({ retry: { attempts: 1 } }).get('k'), (error: unknown) => {
          assert.ok(error instanceof ConnectionError, String(error))
          return true
        })
      } finally {
        await fleet.close()
        await server.stop()
      }
    })

    test('runs the near cache (CLIENT TRACKING redirected to its subscriber connection)', async () => {
      const fleet = createFleet({
        client: open((await testServers()).standalone),
        namespace: uniqueNamespace(),
      })
      const writer = createFleet({
        client: open((await testServers()).standalone),
        namespace: fleet.namespace,
      })
      try {
        const cache = fleet.cache({ near: { max: 10 } })
        await cache.write('k', { v: 1 })
        // It comes online once tracking is enabled (cache-near-node-redis.test.ts covers the rest).
        const deadline = Date.now() + 15_000
        while (cache.stats().nearHits === 0) {
          assert.deepEqual(await cache.read('k'), { v: 1 })
          assert.ok(Date.now() < deadline, 'the near cache came online')
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
        await writer.cache().write('k', { v: 2 })
        while ((await cache.read<{ v: number }>('k'))?.v !== 2) {
          assert.ok(Date.now() < deadline, "the other fleet's write evicted it")
          await new Promise(setImmediate)
        }
      } finally {
        await Promise.all([fleet.close(), writer.close()])
      }
    })
  })
}

describe('a node-redis cluster client', () => {
  let cluster: ReturnType<typeof createCluster> | undefined
  before(async () => {
    const [seed] = [(await testServers()).cluster].flat()
    cluster = createCluster({ rootNodes: [{ url: seed! }] })
  })

  test('is refused by createFleet with a coded ConfigError (not supported yet)', () => {
    assert.throws(
      () => createFleet({ client: cluster }),
      (error: unknown) =>
        error instanceof RedfleetError && error instanceof ConfigError && error.code === 'ERR_INVALID_OPTION',
    )
  })
})
