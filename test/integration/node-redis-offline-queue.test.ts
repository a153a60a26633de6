/**
 * redfleet's commands waiting in a user's node-redis client (or a cluster master's) for its next
 * connection fail at their deadline without breaking the client's own queue: node-redis 5's
 * queue (a linked list) lost every command queued after two of its head commands were removed
 * in a row, the user's own included, until a later reconnect; withdrawing them at their
 * deadlines did that.
 */
import assert from 'node:assert/strict'
import { after, afterEach, describe, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import calculateSlot from 'cluster-key-slot'
import { createClient as createClient5, createCluster as createCluster5 } from 'node-redis5'
import { createClient as createClient6, createCluster as createCluster6 } from 'node-redis6'
import { ConnectionError, createFleet } from '../../src/index.ts'
import { waitUntil } from '../harness/faults.ts'
import { type RedisServer, startCluster, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** What the test needs of a node-redis client of either version. */
interface Client {
  readonly isReady: boolean
  readonly isOpen: boolean
  connect(): Promise<unknown>
  set(key: string, value: string): Promise<unknown>
  get(key: string): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  destroy(): void
}

const VERSIONS: Record<string, (url: string) => Client> = {
  'node-redis 5': (url) =>
    createClient5({ url, socket: { reconnectStrategy: () => 50 } }) as unknown as Client,
  'node-redis 6': (url) =>
    createClient6({ url, socket: { reconnectStrategy: () => 50 } }) as unknown as Client,
}

/** Far longer than the client takes to write what it queued once it has a connection again. */
const WRITTEN_WITHIN = 10_000

for (const [version, createClient] of Object.entries(VERSIONS)) {
  describe(`an injected ${version} client`, () => {
    let server: RedisServer | undefined
    let client: Client | undefined
    afterEach(async () => {
      if (client?.isOpen) client.destroy()
      await server?.stop()
    })

    test('two commands past their deadline while it reconnects leave its queue whole: its own command queued next is written', async () => {
      server = await startRedis()
      client = createClient(server.url)
      client.on('error', () => undefined)
      await client.connect()
      // Never known down within the test: the commands wait in the client's queue.
      const fleet = createFleet({
        client,
        namespace: uniqueNamespace(),
        commandTimeout: 300,
        reconnectAttempts: 1000,
      })
      try {
        const store = fleet.store<number>({ retry: { attempts: 1 } })
        await store.set('k', 1)
        await server.kill()
        const offline = client
        await waitUntil('the client to lose its connection', async () => !offline.isReady)
        // Past their deadlines while queued: a lost connection, maybe applied on the next one.
        const timedOut = await Promise.allSettled([store.get('a'), store.get('b')])
        for (const result of timedOut) {
          assert.equal(result.status, 'rejected')
          const error = (result as PromiseRejectedResult).reason
          assert.ok(error instanceof ConnectionError, String(error))
          assert.equal(error.outcome, 'unknown', error.message)
        }
        const own = client.set('own', 'v')
        await server.restart()
        const written = await Promise.race([own, delay(WRITTEN_WITHIN).then(() => 'never written')])
        assert.equal(written, 'OK')
        assert.equal(await client.get('own'), 'v')
      } finally {
        await fleet.close()
      }
    })

    test('two fleets on it, each closing while their commands wait in its queue, leave its queue whole', async () => {
      server = await startRedis()
      client = createClient(server.url)
      client.on('error', () => undefined)
      await client.connect()
      // Never known down, never past a deadline within the test: the commands wait in the queue.
      const options = { client, commandTimeout: 60_000, reconnectAttempts: 1000 }
      const first = createFleet({ ...options, namespace: uniqueNamespace() })
      const second = createFleet({ ...options, namespace: uniqueNamespace() })
      const firstStore = first.store<number>({ retry: { attempts: 1 } })
      const secondStore = second.store<number>({ retry: { attempts: 1 } })
      await Promise.all([firstStore.set('k', 1), secondStore.set('k', 1)])
      await server.kill()
      const offline = client
      await waitUntil('the client to lose its connection', async () => !offline.isReady)
      // Queued in turn: the first fleet's, the second's, the first's again.
      const calls = [firstStore.get('a')]
      await delay(20)
      calls.push(secondStore.get('b'))
      await delay(20)
      calls.push(firstStore.get('c'))
      await delay(20)
      await first.close()
      await second.close()
      for (const result of await Promise.allSettled(calls)) assert.equal(result.status, 'rejected')
      const own = client.set('own', 'v')
      await server.restart()
      const written = await Promise.race([own, delay(WRITTEN_WITHIN).then(() => 'never written')])
      assert.equal(written, 'OK')
    })
  })
}

/** A master of a node-redis cluster, as the test uses it. */
interface MasterNode {
  readonly port: number
  readonly client?: { readonly isReady: boolean; sendCommand(args: string[]): Promise<unknown> }
}

/** What the test needs of a node-redis cluster of either version. */
interface Cluster {
  readonly isOpen: boolean
  readonly slots: readonly ({ master: MasterNode } | undefined)[]
  connect(): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  destroy(): void
}

const CLUSTER_VERSIONS: Record<string, (urls: string[]) => Cluster> = {
  'node-redis 5': (urls) =>
    createCluster5({
      rootNodes: urls.map((url) => ({ url })),
      defaults: { socket: { reconnectStrategy: () => 50 } },
    }) as unknown as Cluster,
  'node-redis 6': (urls) =>
    createCluster6({
      rootNodes: urls.map((url) => ({ url })),
      defaults: { socket: { reconnectStrategy: () => 50 } },
    }) as unknown as Cluster,
}

for (const [version, createCluster] of Object.entries(CLUSTER_VERSIONS)) {
  describe(`an injected ${version} cluster`, () => {
    let servers: Awaited<ReturnType<typeof startCluster>> | undefined
    let cluster: Cluster | undefined
    after(async () => {
      if (cluster?.isOpen) cluster.destroy()
      await servers?.stop()
    })

    test("a slot's command and a node-wide SCAN past their deadlines in one master's client while it reconnects leave its queue whole", async () => {
      servers = await startCluster()
      cluster = createCluster(servers.urls)
      cluster.on('error', () => undefined)
      await cluster.connect()
      const namespace = uniqueNamespace()
      const fleet = createFleet({ client: cluster, namespace, commandTimeout: 300, reconnectAttempts: 1000 })
      try {
        const store = fleet.store<number>({ retry: { attempts: 1 } })
        const cache = fleet.cache({
          errorHandler: ({ exception }) => {
            throw exception
          },
        })
        await store.set('k', 1)
        await fleet.ready()
        const key = `${namespace}:store:k`
        const master = cluster.slots[calculateSlot(key)]!.master
        const server = servers.servers.find((s) => s.port === master.port)!
        await server.kill()
        await waitUntil('the master’s client to lose its connection', async () => !master.client?.isReady)
        // One through the key's slot, one on the master's own connection (cache.clear SCANs every master).
        const slotCall = store.get('k')
        await delay(50)
        const nodeCall = cache.clear()
        for (const result of await Promise.allSettled([slotCall, nodeCall])) {
          assert.equal(result.status, 'rejected')
          assert.ok((result as PromiseRejectedResult).reason instanceof ConnectionError)
        }
        // The user's own command on that master's client, in a slot of that master.
        const own = master.client!.sendCommand(['SET', `own{${key}}`, 'v'])
        await server.restart()
        // Written and answered: OK, or CLUSTERDOWN from a master that has not rejoined yet.
        const answered = own.then(String, (error: unknown) =>
          /^CLUSTERDOWN/.test(String((error as Error).message)) ? 'CLUSTERDOWN' : String(error),
        )
        const written = await Promise.race([answered, delay(WRITTEN_WITHIN).then(() => 'never written')])
        assert.ok(written === 'OK' || written === 'CLUSTERDOWN', written)
      } finally {
        await fleet.close()
      }
    })

    test("the fleet's command waiting on a master's own connection is withdrawn at close, never written after", async () => {
      servers ??= await startCluster()
      if (cluster?.isOpen) cluster.destroy()
      cluster = createCluster(servers.urls)
      cluster.on('error', () => undefined)
      await cluster.connect()
      const fleet = createFleet({ client: cluster, namespace: uniqueNamespace(), reconnectAttempts: 1000 })
      const cache = fleet.cache({ errorHandler: () => undefined })
      // The test before restarted a master of the same cluster: its state may not be ok again yet.
      await waitUntil('the cluster to answer', async () => {
        await fleet.ready()
        return true
      })
      const master = cluster.slots[0]!.master
      const server = servers.servers.find((s) => s.port === master.port)!
      await server.kill()
      await waitUntil('the master’s client to lose its connection', async () => !master.client?.isReady)
      // cache.clear SCANs every master on its own connection: this one's waits in its client.
      const clearing = cache.clear()
      await delay(50)
      await fleet.close()
      await clearing.catch(() => undefined)
      await server.restart()
      const client = master.client!
      await waitUntil('the master’s client to reconnect', async () => client.isReady)
      // Written after anything queued before it: a SCAN still queued would have been sent by now.
      await client.sendCommand(['PING'])
      const stats = String(await client.sendCommand(['INFO', 'commandstats']))
      assert.doesNotMatch(stats, /cmdstat_scan:/)
    })
  })
}
