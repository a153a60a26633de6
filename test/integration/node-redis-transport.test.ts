/**
 * `transport: 'node-redis'`: a fleet from url(s) on node-redis clients of redfleet's own
 * (standalone, the ring and Redis Cluster), which it opens, follows and closes. The contract
 * suites run on it too (`REDFLEET_TEST_TRANSPORT=node-redis`, in .ci/run); this file holds what
 * they cannot show: the connections it opens and closes, that ioredis is never needed, the
 * errors of wrong options and missing packages, and SPEC §1/§8's faults on clients it made.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import {
  ConfigError,
  ConnectionError,
  createFleet,
  type FleetOptions,
  MissingClientError,
  NodeDownError,
} from '../../src/index.ts'
import { clientPause, command, downAnnouncements } from '../harness/faults.ts'
import { type RedisServer, startCluster, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { runWithout } from '../harness/without-packages.ts'

/** A wait for a reconnect or a deadline would be this long: far longer than any test may take. */
const commandTimeout = 60_000

const servers: RedisServer[] = []
let privateCluster: ReturnType<typeof startCluster> | undefined
after(async () => {
  await Promise.all(servers.map((server) => server.stop()))
  await (await privateCluster?.catch(() => undefined))?.stop()
})

async function privateServer(): Promise<RedisServer> {
  const server = await startRedis()
  servers.push(server)
  return server
}

/** The connections a server has open, besides the one asking. */
async function connectionsOf(port: number): Promise<number> {
  const list = String(await command(port, 'CLIENT', 'LIST'))
  return list.split('\n').filter((line) => line.startsWith('id=')).length - 1
}

/**
 * Resolves once a server has no connection open besides the one asking. A connection closed by
 * its client is dropped by the server when it reads the close, which may come after a CLIENT
 * LIST sent at once on a new connection: asked again until then (a connection left open fails
 * the test by its timeout).
 */
async function allClosed(port: number): Promise<void> {
  while ((await connectionsOf(port)) > 0) await new Promise((resolve) => setTimeout(resolve, 10))
}

/** Each test's bound: far more than closing and a few CLIENT LISTs take. */
const TEST_TIMEOUT = 30_000

function nodeRedisFleet(url: string | string[], options: FleetOptions = {}) {
  return createFleet({ url, transport: 'node-redis', namespace: uniqueNamespace(), ...options })
}

describe("transport: 'node-redis'", () => {
  test('opens pool.size command connections per server, and closes them and its subscriber connection', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const [a, b] = [await privateServer(), await privateServer()]
    const fleet = nodeRedisFleet([a.url, b.url], { pool: { size: 3 } })
    assert.equal(fleet.topology, 'sharded')
    const store = fleet.store<number>()
    const broker = fleet.broker()
    try {
      await fleet.ready()
      assert.deepEqual([await connectionsOf(a.port), await connectionsOf(b.port)], [3, 3])
      for (let i = 0; i < 20; i++) await store.set(`k${i}`, i)
      assert.deepEqual(
        await store.getMany(Array.from({ length: 20 }, (_, i) => `k${i}`)),
        Array.from({ length: 20 }, (_, i) => i),
      )
      const heard = new Promise<string>((resolve) => broker.subscribe(resolve))
      await broker.ready()
      await broker.publish('hello')
      assert.equal(await heard, 'hello')
    } finally {
      await fleet.close()
    }
    await Promise.all([allClosed(a.port), allClosed(b.port)])
  })

  test('a cluster from seed urls: its connections are closed with the fleet', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    privateCluster ??= startCluster()
    const { urls, servers: masters } = await privateCluster
    const fleet = nodeRedisFleet(urls, { cluster: true })
    assert.equal(fleet.topology, 'cluster')
    const store = fleet.store<number>()
    try {
      await fleet.ready()
      const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`)
      await store.setMany(keys.map((key, i) => [key, i]))
      assert.deepEqual(
        await store.getMany(keys),
        keys.map((_, i) => i),
      )
      assert.equal(await store.increment('n', 5), 5)
    } finally {
      await fleet.close()
    }
    await Promise.all(masters.map((m) => allClosed(m.port)))
  })

  test('closing a fleet while its first connection is still opening leaves no connection behind', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const server = await privateServer()
    const fleet = nodeRedisFleet(server.url)
    // The first call builds the topology (the clients start to connect) and close follows at once.
    const call = fleet
      .store()
      .get('k')
      .catch(() => undefined)
    await fleet.close()
    await call
    await allClosed(server.port)
  })

  test('fails calls at once with NodeDownError once a reconnect failed, announced once, and heals', async () => {
    const server = await privateServer()
    const { announced, down, onError } = downAnnouncements()
    const fleet = nodeRedisFleet(server.url, { commandTimeout, onError })
    const store = fleet.store<number>()
    try {
      await store.set('k', 1)
      await server.stop()
      await down
      for (let i = 0; i < 10; i++) {
        await assert.rejects(store.increment('n'), (error) => {
          assert.ok(error instanceof NodeDownError, String(error))
          assert.equal(error.outcome, 'not-applied')
          assert.equal(error.node, `127.0.0.1:${server.port}/0`)
          return true
        })
      }
      assert.equal(announced.length, 1, 'the node going down is announced once')
      await server.restart()
      let value: unknown
      for (let i = 0; i < 200 && value !== null; i++) {
        value = await store.get('n').then(
          (v) => (v === undefined ? null : v),
          () => new Promise((resolve) => setTimeout(resolve, 25)),
        )
      }
      assert.equal(value, null, 'the restarted server answers through the same fleet; no increment was sent')
    } finally {
      await fleet.close()
    }
  })

  test('cluster: true against a server that is not a cluster: every call is a ConfigError, announced once', async () => {
    const server = await privateServer()
    const { announced, onError } = downAnnouncements()
    const fleet = nodeRedisFleet(server.url, { cluster: true, onError })
    try {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(fleet.store().get('k'), (error) => {
          assert.ok(error instanceof ConfigError, String(error))
          assert.equal(error.code, 'ERR_NOT_A_CLUSTER')
          assert.equal(error.outcome, 'not-applied', 'nothing was sent')
          assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port}/0 is not a Redis Cluster`))
          return true
        })
      }
      await assert.rejects(fleet.ready(), ConfigError)
      assert.equal(announced.length, 1)
    } finally {
      await fleet.close()
    }
  })

  test("cluster: true against a server that is not a cluster and slow to say so: a subscription's ready() is the ConfigError too, not a wait that ran out", async () => {
    const server = await privateServer()
    // The slot map comes after the pause: later than a subscription's wait of connectTimeout,
    // within the opening's bound (connectTimeout + commandTimeout).
    const connectTimeout = 300
    await clientPause(server, 4 * connectTimeout)
    const fleet = nodeRedisFleet(server.url, {
      cluster: true,
      connectTimeout,
      commandTimeout,
      onError: () => {},
    })
    try {
      const broker = fleet.broker({ onError: () => {} })
      broker.subscribe(() => {})
      const notACluster = { name: 'ConfigError', code: 'ERR_NOT_A_CLUSTER' }
      await Promise.all([
        assert.rejects(broker.ready(), notACluster),
        assert.rejects(
          fleet.presence({ onError: () => {} }).subscribe('room', () => {}),
          notACluster,
        ),
      ])
    } finally {
      await fleet.close()
    }
  })

  test('cluster: true with no seed answering: every call is a ConnectionError naming the seeds', async () => {
    const server = await privateServer()
    await server.stop()
    const fleet = nodeRedisFleet(server.url, { cluster: true, onError: () => undefined })
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(fleet.store().get('k'), (error) => {
          assert.ok(error instanceof ConnectionError, String(error))
          assert.equal(error.outcome, 'not-applied')
          assert.match(
            error.message,
            new RegExp(
              `cannot reach the Redis Cluster at 127\\.0\\.0\\.1:${server.port}/0: no seed answered \\(connection refused`,
            ),
          )
          return true
        })
      }
    } finally {
      await fleet.close()
    }
  })

  test('the url carries the password', async () => {
    const server = await startRedis({ extra: ['--requirepass', 's3cret'] })
    servers.push(server)
    const url = server.url.replace('redis://', 'redis://:s3cret@')
    const fleet = nodeRedisFleet(url)
    try {
      await fleet.store().set('k', 'v')
      assert.equal(await fleet.store().get('k'), 'v')
    } finally {
      await fleet.close()
    }
  })
})

describe('the transport option', () => {
  test('a value that is not a transport is a ConfigError naming the choices', () => {
    assert.throws(
      () => createFleet({ url: 'redis://127.0.0.1:1', transport: 'redis' as never }),
      (error) => {
        assert.ok(error instanceof ConfigError)
        assert.equal(error.code, 'ERR_INVALID_OPTION')
        assert.match(
          error.message,
          /transport must be one of 'ioredis', 'node-redis', got the string "redis"/,
        )
        return true
      },
    )
  })

  test('an injected client decides the transport: naming another one is a ConfigError', async () => {
    const { createClient } = await import('node-redis5')
    const client = createClient({ url: 'redis://127.0.0.1:1' })
    assert.throws(
      () => createFleet({ client, transport: 'ioredis' }),
      (error) => error instanceof ConfigError && error.code === 'ERR_CONFLICTING_OPTIONS',
    )
    // Naming its own transport is allowed (and changes nothing).
    assert.equal(createFleet({ client, transport: 'node-redis' }).topology, 'standalone')
  })

  test('a node-redis fleet never needs ioredis', async () => {
    const server = await privateServer()
    const out = await runWithout(
      ['ioredis'],
      `const url = ${JSON.stringify(server.url)};
      const fleet = createFleet({ url, transport: 'node-redis' });
      await fleet.store().set('k', 'through node-redis');
      console.log('node-redis:', await fleet.store().get('k'));
      await fleet.close();
      await report(createFleet({ url }));`,
    )
    assert.match(out, /node-redis: through node-redis/)
    // The hook works: a fleet on the default transport does need it.
    assert.match(out, new RegExp(`${MissingClientError.name}: .*npm install ioredis`))
  })

  test('without node-redis installed, the error says what to install', async () => {
    const out = await runWithout(
      ['redis', '@redis/client'],
      `await report(createFleet({ url: 'redis://127.0.0.1:1', transport: 'node-redis' }));`,
    )
    assert.match(
      out,
      new RegExp(`${MissingClientError.name}: .*npm install redis\`.*\\[outcome not-applied\\]`),
    )
  })
})
