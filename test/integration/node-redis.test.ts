import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import calculateSlot from 'cluster-key-slot'
import { createClient as createClient5, createCluster as createCluster5 } from 'node-redis5'
import { createClient as createClient6, createCluster as createCluster6 } from 'node-redis6'
import { ConnectionError, createFleet, DurabilityError, type Store, TimeoutError } from '../../src/index.ts'
import {
  type ClusterNode,
  command,
  type FaultCluster,
  inEmptySlot,
  info,
  moveEmptySlotOf,
  startFaultCluster,
  waitUntil,
} from '../harness/faults.ts'
import { inbox } from '../harness/inbox.ts'
import { type RedisServer, startCluster, startRedis } from '../harness/redis-server.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** What these tests do with a client of either version. */
interface Client {
  readonly isOpen: boolean
  connect(): Promise<unknown>
  sendCommand(args: string[]): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  on(event: 'end', listener: () => void): unknown
  destroy(): void
}

const VERSIONS: Record<string, (url: string, socket?: object) => Client> = {
  'node-redis 5': (url, socket) => createClient5({ url, socket }),
  'node-redis 6': (url, socket) => createClient6({ url, socket }),
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

    test('a client with no listener of the user’s: after the fleet closes, listeners added to it are called', async () => {
      // node-redis' client is an Object.create of the emitter that emits: had the fleet taken
      // its listeners' count back to zero, the ones added now would never be called.
      const client = createClient((await testServers()).standalone)
      clients.push(client)
      const fleet = createFleet({ client, namespace: uniqueNamespace() })
      await fleet.store().set('a', 1)
      await fleet.close()
      let ended = false
      client.on('end', () => {
        ended = true
      })
      client.destroy()
      assert.equal(ended, true, "the user's 'end' listener was called")
    })

    test('a client its owner closed is not reopened by ready(): it fails with ConnectionError and stays closed', async () => {
      // ready() took a closed client for one not open yet and connected it again: the user's
      // client open behind their back, never closed by the fleet, the process kept alive.
      const client = open((await testServers()).standalone)
      await client.connect()
      const fleet = createFleet({ client, namespace: uniqueNamespace() })
      try {
        await fleet.store().set('k', 1)
        client.destroy()
        for (const call of [() => fleet.ready(), () => fleet.store().get('k')]) {
          await assert.rejects(call(), (error: unknown) => {
            assert.ok(error instanceof ConnectionError, String(error))
            assert.equal(error.outcome, 'not-applied')
            return true
          })
          assert.equal(client.isOpen, false)
        }
      } finally {
        await fleet.close()
      }
      assert.equal(client.isOpen, false)
    })

    test('a client whose reconnectStrategy gave up before it was ever ready is opened again by ready()', async () => {
      // Nobody closed it: the user's startup loop retries ready() until Redis is up (helper-237).
      const server = await startRedis()
      await server.stop()
      const client = createClient5({
        url: server.url,
        socket: { reconnectStrategy: () => new Error('gave up') },
      })
      client.on('error', () => undefined)
      clients.push(client)
      const fleet = createFleet({ client, namespace: uniqueNamespace(), connectTimeout: 500 })
      try {
        await assert.rejects(fleet.ready(), ConnectionError)
        await waitUntil('the client gave up', async () => !client.isOpen)
        await server.restart()
        await fleet.ready()
        await fleet.store().set('k', 1)
        assert.equal(await fleet.store().get('k'), 1)
      } finally {
        await fleet.close()
        await server.stop()
      }
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

/** What these tests do with a cluster of either version. */
interface Cluster {
  readonly isOpen: boolean
  readonly masters: readonly { readonly port: number; readonly client?: { readonly isReady: boolean } }[]
  sendCommand(firstKey: string, isReadonly: boolean, args: string[]): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  destroy(): unknown
}

const CLUSTER_VERSIONS: Record<string, (seeds: string[]) => Cluster> = {
  'node-redis 5': (seeds) => createCluster5({ rootNodes: seeds.map((url) => ({ url })) }),
  'node-redis 6': (seeds) => createCluster6({ rootNodes: seeds.map((url) => ({ url })) }),
}

/** A cluster of these tests' own, for the test that moves a slot (started on first use). */
let privateCluster: ReturnType<typeof startCluster> | undefined
after(async () => {
  await (await privateCluster?.catch(() => undefined))?.stop()
})

async function privateClusterUrls(): Promise<string[]> {
  privateCluster ??= startCluster()
  return (await privateCluster).urls
}

/** A cluster with replicas, for the failover test (started on first use). */
let faultCluster: Promise<FaultCluster> | undefined
after(async () => {
  await (await faultCluster?.catch(() => undefined))?.stop()
})

/** The cluster's masters now, `first` first. */
async function mastersFirst(faults: FaultCluster, first: ClusterNode): Promise<ClusterNode[]> {
  const live = faults.nodes.filter((node) => !node.down && node !== first)
  const roles = await Promise.all(
    live.map(async (node) => ((await command(node.port, 'ROLE')) as [string])[0]),
  )
  return [first, ...live.filter((_, i) => roles[i] === 'master')]
}

/**
 * A namespace under which `${namespace}${suffix}` is served (on the shared test cluster) by
 * another master than cluster-key-slot's reading of its slot says.
 */
async function namespaceSplitting(suffix: string): Promise<string> {
  const node = createClient5({ url: (await testServers()).cluster[0]! })
  await node.connect()
  try {
    const ranges = (await node.sendCommand(['CLUSTER', 'SLOTS'])) as [number, number, [string, number]][]
    const ownerOf = (slot: number) => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1]
    for (let i = 0; i < 100; i++) {
      const namespace = uniqueNamespace()
      const slot = Number(await node.sendCommand(['CLUSTER', 'KEYSLOT', `${namespace}${suffix}`]))
      if (ownerOf(slot) !== ownerOf(calculateSlot(`${namespace}${suffix}`))) return namespace
    }
    throw new Error(`no namespace puts ${suffix} on another master than cluster-key-slot says`)
  } finally {
    node.destroy()
  }
}

for (const [version, createCluster] of Object.entries(CLUSTER_VERSIONS)) {
  describe(`a fleet on an injected ${version} cluster`, () => {
    const clusters: Cluster[] = []
    const open = async (seeds?: string[]) => {
      const cluster = createCluster(seeds ?? (await testServers()).cluster)
      cluster.on('error', () => undefined)
      clusters.push(cluster)
      return cluster
    }
    after(() => {
      for (const cluster of clusters) if (cluster.isOpen) cluster.destroy()
    })

    /** Runs `work` with a store of a fleet on a cluster of this version, seeded with the fault cluster. */
    const onFaultCluster = async (
      work: (
        faults: FaultCluster,
        store: Store<number>,
        namespace: string,
        cluster: Cluster,
      ) => Promise<void>,
    ) => {
      faultCluster ??= startFaultCluster()
      const faults = await faultCluster
      const namespace = uniqueNamespace()
      const cluster = await open(faults.urls)
      const fleet = createFleet({ client: cluster, namespace })
      try {
        await work(faults, fleet.store<number>(), namespace, cluster)
      } finally {
        await fleet.close()
      }
    }

    test('opens a cluster not connected yet, serves keys of every master, and leaves it open on close', async () => {
      const cluster = await open()
      const fleet = createFleet({ client: cluster, namespace: uniqueNamespace() })
      assert.equal(fleet.topology, 'cluster')
      const store = fleet.store<number>()
      // Twenty keys hash to slots of all three masters: getMany and setMany split them per slot.
      const keys = Array.from({ length: 20 }, (_, i) => `key-${i}`)
      await store.setMany(keys.map((key, i) => [key, i]))
      assert.deepEqual(await store.getMany([...keys, 'missing']), [...keys.map((_, i) => i), undefined])
      assert.equal(await store.increment('count', 5), 5)
      assert.equal(await store.setIfNotExists('claim', 1), true)
      assert.equal(await store.delete('key-0'), true)

      const received = inbox()
      const broker = fleet.broker({ channel: 'events' })
      broker.subscribe(received.push)
      await broker.ready()
      await broker.publish('hello')
      assert.deepEqual(await received.until(1), ['hello'])

      await fleet.ready()
      await fleet.close()
      assert.equal(cluster.isOpen, true)
      assert.equal(await cluster.sendCommand('after-close', false, ['EXISTS', 'after-close']), 0)
    })

    test('follows a slot moved to another master (MOVED) without an error', async () => {
      const urls = await privateClusterUrls()
      const cluster = await open(urls)
      const namespace = uniqueNamespace()
      const errors: unknown[] = []
      const fleet = createFleet({ client: cluster, namespace, onError: (error) => errors.push(error) })
      try {
        const store = fleet.store<number>()
        const moving = await inEmptySlot(urls, (name) => `${namespace}:store:${name}`)
        assert.equal(await store.get(moving), undefined)
        const key = `${namespace}:store:${moving}`
        const { to } = await moveEmptySlotOf(key, urls)
        await store.set(moving, 7)
        assert.equal(await store.get(moving), 7)
        assert.deepEqual(await store.getMany([moving, 'other']), [7, undefined])
        const owner = createClient5({ url: to })
        await owner.connect()
        try {
          assert.equal(await owner.sendCommand(['EXISTS', key]), 1)
        } finally {
          owner.destroy()
        }
        assert.deepEqual(errors, [])
      } finally {
        await fleet.close()
      }
    })

    test('a sharded subscription follows its channel to the slot’s new master', async () => {
      const urls = await privateClusterUrls()
      const namespace = uniqueNamespace()
      const errors: unknown[] = []
      const fleet = createFleet({
        client: await open(urls),
        namespace,
        onError: (error) => errors.push(error),
      })
      try {
        const received = inbox()
        const moving = await inEmptySlot(urls, (name) => `${namespace}:broker:${name}`)
        const broker = fleet.broker({ channel: moving })
        broker.subscribe(received.push)
        await broker.ready()
        const channel = `${namespace}:broker:${moving}`
        const { to } = await moveEmptySlotOf(channel, urls)
        const port = Number(new URL(to).port)
        // Redis tells the old master's subscriber (SUNSUBSCRIBE); nothing tells the test.
        await waitUntil('subscribed on the new master', async () => {
          const [, count] = (await command(port, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number]
          return count === 1
        })
        await broker.ready()
        await broker.publish('after the move')
        assert.deepEqual(await received.until(1), ['after the move'])
        assert.deepEqual(errors, [])
      } finally {
        await fleet.close()
      }
    })

    // Each command of a node-redis pipeline follows its own MOVED: a write redirected to the
    // slot's new master left its WAIT on the old one, which confirmed that master's replica.
    test('a waitFor write whose slot moved is confirmed by the new master’s replicas, not the old one’s', async () => {
      await onFaultCluster(async (faults, store, namespace) => {
        // Generous where the replica answers (a loaded machine), short where it is stopped.
        const waitFor = { replicas: 1, timeout: 2000 }
        const key = `${namespace}:store:k`
        await store.set('k', 1, { waitFor })
        const [, to, third] = await mastersFirst(faults, await faults.masterOf(key))
        // Behind the fleet's back: its cluster client still sends the slot's commands to its old master.
        await faults.moveSlot(calculateSlot(key), to!)
        const pid = Number((await info((await faults.replicaOf(to!)).port, 'server')).get('process_id'))
        process.kill(pid, 'SIGSTOP')
        try {
          const written = store.set('k', 2, { waitFor: { ...waitFor, timeout: 300 } })
          await assert.rejects(written, (error: unknown) => {
            assert.ok(error instanceof DurabilityError, String(error))
            assert.equal(error.replicas, 0)
            return true
          })
        } finally {
          process.kill(pid, 'SIGCONT')
        }
        assert.equal(await store.get('k'), 2, 'the write stays applied')
        assert.equal(await command(to!.port, 'EXISTS', key), 1)
        // With every replica answering, a redirected write is confirmed where it ran.
        await faults.waitUntilOk()
        await faults.moveSlot(calculateSlot(key), third!)
        await store.set('k', 3, { waitFor })
        assert.equal(await store.get('k'), 3)
      })
    })

    // Through the cluster client (its master's client reconnecting), node-redis followed the ASK
    // by itself: the write ran on the importing master, and its WAIT was answered on the other.
    test('a waitFor write of a new key in a migrating slot (ASK) is not confirmed by the old master’s replica', async () => {
      await onFaultCluster(async (faults, store, namespace, cluster) => {
        const name = await inEmptySlot(faults.urls, (n) => `${namespace}:store:${n}`)
        const key = `${namespace}:store:${name}`
        const slot = calculateSlot(key)
        const [from, to] = await mastersFirst(faults, await faults.masterOf(key))
        assert.equal(await store.get(name), undefined, 'the slot map is read, and its master connected')
        await command(to!.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from!.id)
        await command(from!.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to!.id)
        const pid = Number((await info((await faults.replicaOf(to!)).port, 'server')).get('process_id'))
        const fromClient = cluster.masters.find((master) => master.port === from!.port)?.client
        process.kill(pid, 'SIGSTOP')
        try {
          // Its connection to the migrating master is cut (this command's own too): the write is
          // made while the client reconnects, within milliseconds, so no poll could wait for it.
          await command(from!.port, 'CLIENT', 'KILL', 'TYPE', 'normal').catch(() => undefined)
          for (let turn = 0; turn < 10_000 && fromClient?.isReady === true; turn++) await nextTurn()
          await assert.rejects(
            store.set(name, 1, { waitFor: { replicas: 1, timeout: 300 } }),
            DurabilityError,
          )
        } finally {
          process.kill(pid, 'SIGCONT')
          // The migration finished: the slot (with the key written there) is `to`'s.
          for (const master of await mastersFirst(faults, to!)) {
            await command(master.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to!.id)
          }
          await faults.waitUntilOk()
        }
        assert.equal(await store.get(name), 1, 'the write stays applied')
      })
    })

    test('a master killed and failed over: its keys are served by the promoted replica', async () => {
      await onFaultCluster(async (faults, store, namespace) => {
        await store.set('k', 1)
        const master = await faults.masterOf(`${namespace}:store:k`)
        await faults.killAndFailover(master)
        // node-redis 5 learns of a failover from nothing but a re-read of the slot map.
        await store.set('k', 2)
        assert.equal(await store.get('k'), 2)
        await faults.restart(master)
      })
    })

    test('a key whose slot cluster-key-slot gets wrong is served by the master Redis hashes it to', async () => {
      // Redis hashes `claim-f{}g}h` whole; cluster-key-slot (and node-redis 5) read the tag `g`.
      const key = 'claim-f{}g}h'
      const namespace = await namespaceSplitting(`:store:${key}`)
      const fleet = createFleet({ client: await open(), namespace })
      try {
        const store = fleet.store<number>()
        assert.equal(await store.setIfNotExists(key, 1), true)
        assert.equal(await store.update(key, (n) => n! + 1), 2)
        assert.equal(await store.get(key), 2)
      } finally {
        await fleet.close()
      }
    })

    test('times a command out after commandTimeout (TimeoutError)', async () => {
      const cluster = await open()
      const seeds = (await testServers()).cluster
      const pausers = seeds.map((url) => {
        const client = createClient5({ url })
        client.on('error', () => undefined)
        return client
      })
      const fleet = createFleet({ client: cluster, namespace: uniqueNamespace(), commandTimeout: 100 })
      try {
        await fleet.ready()
        await Promise.all(pausers.map((client) => client.connect()))
        await Promise.all(pausers.map((client) => client.sendCommand(['CLIENT', 'PAUSE', '600', 'ALL'])))
        await assert.rejects(fleet.store({ retry: { attempts: 1 } }).get('k'), TimeoutError)
      } finally {
        // Only the pausers that connected: a failure before (a connect refused) must be the one
        // the test reports, not "The client is closed" of an UNPAUSE never sent.
        const connected = pausers.filter((client) => client.isOpen)
        await Promise.all(connected.map((client) => client.sendCommand(['CLIENT', 'UNPAUSE'])))
        for (const client of connected) client.destroy()
        await fleet.close()
      }
    })
  })
}
