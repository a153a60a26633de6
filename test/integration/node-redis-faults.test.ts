/**
 * Fail fast while down on an injected node-redis client (SPEC §8), as on ioredis
 * (faults-topology.test.ts): once the client's reconnect has failed, calls routed to its server
 * are refused with NodeDownError (a ConnectionError, `outcome: 'not-applied'`, never handed to the
 * client) instead of each waiting for the reconnect; the client's own reconnects find the server
 * again and the same fleet's calls go through.
 *
 * "At once" is bound by the configuration, not by a clock: commandTimeout is 60 s and each test
 * times out well before, so a call that waited for the reconnect (or its deadline) fails the test.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { createClient as createClient5, createCluster as createCluster5 } from 'node-redis5'
import { createClient as createClient6, createCluster as createCluster6 } from 'node-redis6'
import {
  ClosedError,
  ConnectionError,
  createFleet,
  type Fleet,
  type FleetOptions,
  failsafe,
  NodeDownError,
  type Store,
} from '../../src/index.ts'
import { downAnnouncements, info, waitUntil } from '../harness/faults.ts'
import { type RedisServer, startCluster, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** A wait for the reconnect would be this long: far longer than any test may take. */
const commandTimeout = 60_000
/** Each test's own bound: a stop, a failed reconnect, a restart and a reconnect. */
const TEST_TIMEOUT = 20_000

/** What these tests do with a client of either version. */
interface Client {
  readonly isOpen: boolean
  connect(): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  off(event: 'error', listener: (error: unknown) => void): unknown
  once(event: 'ready', listener: () => void): unknown
  destroy(): void
}

const VERSIONS: Record<string, (url: string) => Client> = {
  'node-redis 5': (url) => createClient5({ url }),
  'node-redis 6': (url) => createClient6({ url }),
}

/** Resolves when the client reports a reconnect attempt refused (its server is down). */
function failedReconnect(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const listener = (error: unknown) => {
      if ((error as { code?: unknown } | null)?.code !== 'ECONNREFUSED') return
      client.off('error', listener)
      resolve()
    }
    client.on('error', listener)
  })
}

/** Stops the server and waits until the client reports a reconnect refused. */
async function stopUntilRefused(server: RedisServer, client: Client): Promise<void> {
  const refused = failedReconnect(client)
  await server.stop()
  await refused
}

/**
 * Restarts the server and waits until the client is ready on it again (its own reconnect). Not
 * events.once: a reconnect refused before the server listens again would reject it.
 */
async function restartUntilReady(server: RedisServer, client: Client): Promise<void> {
  const ready = new Promise<void>((resolve) => {
    client.once('ready', () => resolve())
  })
  await server.restart()
  await ready
}

/** `increment('n')` made, then the fleet closed: the call rejects with ClosedError, not sent. */
async function closeDuringIncrement(fleet: Fleet, store: Store<number>): Promise<void> {
  const increment = store.increment('n')
  await fleet.close()
  await assert.rejects(increment, (error: unknown) => {
    assert.ok(error instanceof ClosedError, String(error))
    assert.equal(error.outcome, 'not-applied')
    return true
  })
}

/** A refusal of a node known down: never sent, naming the node and why. */
function refusedBy(server: RedisServer): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof NodeDownError, String(error))
    assert.ok(error instanceof ConnectionError)
    assert.equal(error.outcome, 'not-applied')
    assert.equal(error.node, `127.0.0.1:${server.port}/0`)
    assert.match(
      error.message,
      new RegExp(`connection refused \\(ECONNREFUSED 127\\.0\\.0\\.1:${server.port}\\)`),
    )
    return true
  }
}

for (const [version, createClient] of Object.entries(VERSIONS)) {
  describe(`a fleet on an injected ${version} client whose server goes down`, () => {
    const servers: RedisServer[] = []
    const clients: Client[] = []
    /** A private server, a connected client of it, and a fleet on that client with `options`. */
    const open = async (options: FleetOptions = {}) => {
      const server = await startRedis()
      servers.push(server)
      const client = createClient(server.url)
      client.on('error', () => undefined)
      clients.push(client)
      await client.connect()
      const fleet = createFleet({
        client,
        namespace: uniqueNamespace(),
        commandTimeout,
        onError: () => undefined,
        ...options,
      })
      return { server, client, fleet }
    }
    /**
     * With the server stopped (a reconnect refused), `store.increment('n')` fails as `rejection`
     * says; once the client is ready again on the restarted server, `n` was never incremented:
     * whatever was still queued would have gone out on the new connection before that read.
     */
    const incrementNeverSent = async (
      options: FleetOptions,
      rejection: (server: RedisServer) => (error: unknown) => true,
    ) => {
      const { server, client, fleet } = await open(options)
      const store = fleet.store<number>()
      try {
        await store.set('k', 1)
        await stopUntilRefused(server, client)
        await assert.rejects(store.increment('n'), rejection(server))
        await restartUntilReady(server, client)
        assert.equal(await store.get('n'), undefined, 'the failed increment was not sent on reconnect')
      } finally {
        await fleet.close()
      }
    }
    after(async () => {
      for (const client of clients) if (client.isOpen) client.destroy()
      await Promise.all(servers.map((server) => server.stop()))
    })

    test('a call waiting for the client to reconnect when the fleet closes fails as not sent, and is never sent later', {
      timeout: TEST_TIMEOUT,
    }, async () => {
      // No deadline and a node not yet known down: only the close can end the call.
      const { server, client, fleet } = await open({ commandTimeout: 0, reconnectAttempts: 1000 })
      const store = fleet.store<number>()
      await store.set('k', 1)
      await stopUntilRefused(server, client)
      await closeDuringIncrement(fleet, store)
      assert.ok(client.isOpen, "the user's client stays open")
      await restartUntilReady(server, client)
      const again = createFleet({ client, namespace: fleet.namespace })
      try {
        assert.equal(await again.store().get('n'), undefined, 'not sent on the reconnect')
      } finally {
        await again.close()
      }
    })

    test('fails calls at once with NodeDownError once a reconnect failed, and serves them again when the client is back', {
      timeout: TEST_TIMEOUT,
    }, async () => {
      const { server, client, fleet } = await open()
      const store = fleet.store<number>()
      try {
        await store.set('k', 1)
        await stopUntilRefused(server, client)
        await assert.rejects(store.get('k'), refusedBy(server))
        await assert.rejects(store.increment('n'), refusedBy(server))
        await assert.rejects(store.getMany(['k', 'n']), refusedBy(server))
        await assert.rejects(fleet.ready(), ConnectionError)

        await restartUntilReady(server, client)
        // The restarted server is empty: a refused INCR was never queued for the reconnect.
        assert.equal(await store.get('n'), undefined)
        await store.set('k', 2)
        assert.equal(await store.get('k'), 2)
        await fleet.ready()
      } finally {
        await fleet.close()
      }
      assert.equal(client.isOpen, true, 'the client stays open: it is the user’s')
    })

    test('a call waiting in the client’s offline queue when the node goes down is withdrawn: refused, never sent', {
      timeout: TEST_TIMEOUT,
    }, async () => {
      // Down after the loss and two failed reconnects: a call made after the first is queued.
      await incrementNeverSent({ reconnectAttempts: 2 }, (server) => refusedBy(server))
    })

    test('a call still in the client’s offline queue at its deadline may be applied on the next connection: outcome unknown, never sent twice', {
      timeout: TEST_TIMEOUT,
    }, async () => {
      // Known down only after 50 failed reconnects: until then a call waits in the client's
      // offline queue, here past its deadline. node-redis keeps it for its next connection
      // (taking it out would break node-redis 5's queue): a lost connection, outcome unknown,
      // so the runner does not send it again.
      const { server, client, fleet } = await open({ commandTimeout: 200, reconnectAttempts: 50 })
      const store = fleet.store<number>()
      try {
        await store.set('k', 1)
        await stopUntilRefused(server, client)
        await assert.rejects(store.increment('n'), (error) => {
          assert.ok(error instanceof ConnectionError, String(error))
          assert.ok(!(error instanceof NodeDownError), 'the node is not known down yet')
          assert.equal(error.outcome, 'unknown')
          return true
        })
        await restartUntilReady(server, client)
        assert.ok([undefined, 1].includes(await store.get('n')), 'applied at most once')
      } finally {
        await fleet.close()
      }
    })

    test('a failsafe cache and store answer at once while it is down', {
      timeout: TEST_TIMEOUT,
    }, async () => {
      const { announced, onError } = downAnnouncements()
      const { server, client, fleet } = await open({ onError })
      const failures: unknown[] = []
      const cache = fleet.cache({ errorHandler: ({ exception }) => failures.push(exception) })
      const store = failsafe(fleet.store<number>(), { onError: (error) => failures.push(error) })
      try {
        assert.equal(await cache.write('c', 'v'), true)
        await store.set('s', 1)
        await stopUntilRefused(server, client)
        for (let i = 0; i < 100; i++) {
          assert.equal(await cache.read('c'), undefined)
          assert.equal(await store.get('s'), undefined)
        }
        assert.equal(failures.length, 200)
        for (const failure of failures) refusedBy(server)(failure)
        assert.equal(announced.length, 1, 'the node going down is announced once')
        assert.match(String(announced[0]), /is down \(connection refused/)

        await restartUntilReady(server, client)
        assert.equal(await cache.write('c', 'again'), true)
        assert.equal(await cache.read('c'), 'again')
        assert.equal(failures.length, 200, 'no failure once the client is back')
      } finally {
        await fleet.close()
      }
    })
  })
}

/** What these tests do with a cluster of either version. */
interface Cluster {
  readonly isOpen: boolean
  readonly slots: readonly { readonly master: { readonly address: string; readonly client?: Client } }[]
  on(event: 'error', listener: (error: unknown) => void): unknown
  destroy(): unknown
}

const CLUSTER_VERSIONS: Record<string, (seeds: string[]) => Cluster> = {
  'node-redis 5': (seeds) =>
    createCluster5({ rootNodes: seeds.map((url) => ({ url })) }) as unknown as Cluster,
  'node-redis 6': (seeds) =>
    createCluster6({ rootNodes: seeds.map((url) => ({ url })) }) as unknown as Cluster,
}

/** A cluster of these tests' own, whose masters are killed (started on first use). */
let privateCluster: ReturnType<typeof startCluster> | undefined
after(async () => {
  await (await privateCluster?.catch(() => undefined))?.stop()
})

/** A cluster client made by `createCluster` on the private cluster, its errors silenced, and that cluster's servers. */
async function onPrivateCluster(
  createCluster: (seeds: string[]) => Cluster,
): Promise<{ cluster: Cluster; servers: RedisServer[] }> {
  privateCluster ??= startCluster()
  const { urls, servers } = await privateCluster
  const cluster = createCluster(urls)
  cluster.on('error', () => undefined)
  return { cluster, servers }
}

/**
 * SIGKILLs the master that serves `key` and waits until its client reports a reconnect refused.
 * Killed, not stopped: a cluster node restarts from its nodes.conf, which stop removes.
 */
async function killMasterOf(cluster: Cluster, servers: RedisServer[], key: string) {
  const master = cluster.slots[calculateSlot(key)]!.master
  const server = servers.find((s) => master.address.endsWith(`:${s.port}`))!
  const client = master.client!
  const refused = failedReconnect(client)
  await server.kill()
  await refused
  return { master, server, client }
}

/**
 * Restarts a killed master and waits until its client is ready on it and the cluster serves its
 * slots again (a restarted node answers CLUSTERDOWN until it has met the others).
 */
async function restartMaster(server: RedisServer, client: Client): Promise<void> {
  await restartUntilReady(server, client)
  await waitUntil('the restarted master serves its slots', async () => {
    return (await info(server.port, 'cluster')).get('cluster_state') === 'ok'
  })
}

for (const [version, createCluster] of Object.entries(CLUSTER_VERSIONS)) {
  describe(`a fleet on an injected ${version} cluster whose master goes down`, () => {
    test('a call waiting for the master to reconnect when the fleet closes fails as not sent, and is never sent later', {
      timeout: TEST_TIMEOUT,
    }, async () => {
      const { cluster, servers } = await onPrivateCluster(createCluster)
      const namespace = uniqueNamespace()
      // No deadline and a master not yet known down: only the close can end the call.
      const options = { client: cluster, namespace, commandTimeout: 0, onError: () => undefined }
      const fleet = createFleet({ ...options, reconnectAttempts: 1000 })
      const store = fleet.store<number>()
      try {
        await store.set('k', 1)
        const { server, client } = await killMasterOf(cluster, servers, `${namespace}:store:n`)
        await closeDuringIncrement(fleet, store)
        await restartMaster(server, client)
        // The restarted node keeps no data: a count there came from a send after close.
        const again = createFleet(options)
        try {
          assert.equal(await again.store().get('n'), undefined, 'not sent on the reconnect')
        } finally {
          await again.close()
        }
      } finally {
        await fleet.close()
        cluster.destroy()
      }
    })

    test('fails calls to its slots at once with NodeDownError, and serves them again when its client is back', {
      timeout: TEST_TIMEOUT,
    }, async () => {
      const { cluster, servers } = await onPrivateCluster(createCluster)
      const namespace = uniqueNamespace()
      const fleet = createFleet({ client: cluster, namespace, commandTimeout, onError: () => undefined })
      const store = fleet.store<number>()
      try {
        await store.set('k', 1)
        const { master, server, client } = await killMasterOf(cluster, servers, `${namespace}:store:k`)
        await assert.rejects(store.get('k'), (error: unknown) => {
          assert.ok(error instanceof NodeDownError, String(error))
          assert.equal(error.outcome, 'not-applied')
          assert.equal(error.node, master.address)
          return true
        })
        await restartMaster(server, client)
        await store.set('k', 2)
        assert.equal(await store.get('k'), 2)
      } finally {
        await fleet.close()
        cluster.destroy()
      }
    })
  })
}
