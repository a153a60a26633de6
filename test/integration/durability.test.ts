/**
 * Durability of store writes (SPEC §10) against a primary and its replica on private servers:
 * `waitFor` resolves once WAIT (and WAITAOF) confirmed the write, and rejects with
 * DurabilityError carrying the counts reached when they fall short; the write stays applied.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { DurabilityError } from '../../src/errors.ts'
import { createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

let primary: RedisServer
let replica: RedisServer
let primaryAdmin: Redis
const fleets: Fleet[] = []

async function infoField(client: Redis, section: string, field: string): Promise<string | undefined> {
  const text = await client.info(section)
  return text.match(new RegExp(`^${field}:(.*)\\r?$`, 'm'))?.[1]
}

/** Polls until `probe` holds; the bound is generous for a loaded machine, never a sleep. */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 30 s`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

before(async () => {
  primary = await startRedis()
  replica = await startRedis({ extra: ['--replicaof', '127.0.0.1', String(primary.port)] })
  primaryAdmin = new Redis(primary.url)
  const replicaAdmin = new Redis(replica.url)
  await until('the replica is in sync', async () => {
    return (await infoField(replicaAdmin, 'replication', 'master_link_status')) === 'up'
  })
  replicaAdmin.disconnect()
})
after(async () => {
  await Promise.all(fleets.map((fleet) => fleet.close()))
  primaryAdmin?.disconnect()
  await Promise.all([primary?.stop(), replica?.stop()])
})

function storeOn(url: string, waitFor: { replicas?: number; aof?: boolean; timeout?: number }) {
  const namespace = uniqueNamespace('durable')
  const fleet = createFleet({ url, namespace, commandTimeout: 5000 })
  fleets.push(fleet)
  return { store: fleet.store<number>({ waitFor }), namespace }
}

/** Every store write that takes `waitFor`, each on its own key. */
function writes(store: ReturnType<typeof storeOn>['store']): [string, () => Promise<unknown>][] {
  return [
    ['set', () => store.set('s', 1)],
    [
      'setMany',
      () =>
        store.setMany([
          ['m1', 1],
          ['m2', 2],
        ]),
    ],
    ['setIfNotExists', () => store.setIfNotExists('claim', 1)],
    ['increment', () => store.increment('n')],
    ['update', () => store.update('u', (n) => (n ?? 0) + 1)],
  ]
}

test('waitFor { replicas: 1 } resolves once the replica has the write', async () => {
  const { store, namespace } = storeOn(primary.url, { replicas: 1, timeout: 2000 })
  for (const [, write] of writes(store)) await write()
  // WAIT returned: the replica has every write, without waiting for it here.
  const replicaClient = new Redis(replica.url)
  try {
    assert.deepEqual(
      await replicaClient.mget(['s', 'm1', 'm2', 'claim', 'n', 'u'].map((k) => `${namespace}:store:${k}`)),
      ['1', '1', '2', '1', '1', '1'],
    )
  } finally {
    replicaClient.disconnect()
  }
})

/**
 * 64 callers' waitFor increments keep 64 WAITs in flight on the connection, each answered at
 * once. Each call's deadline counted the WAITs ahead of it at its sending as if each blocked for
 * its whole timeout (64 × 200 ms), so with the primary frozen no call failed before that: 5 to
 * 13 s (helper-217, both transports). One attempt may take commandTimeout plus the WAIT's
 * allowance (its timeout + 100 ms) from the last answer; twice that is the bound, with room for
 * the timer's lateness on a loaded machine.
 */
for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: under steady waitFor writes, a frozen primary fails each call within its bound, not behind every WAIT in flight`, async (t) => {
    const commandTimeout = 500
    const waitFor = { replicas: 1, timeout: 100 }
    const bound = 3 * (commandTimeout + waitFor.timeout + 100)
    const fleet = createFleet({
      url: primary.url,
      transport,
      namespace: uniqueNamespace('durable'),
      commandTimeout,
      retry: { attempts: 1 },
      onError() {},
    })
    fleets.push(fleet)
    const store = fleet.store<number>({ waitFor })
    await store.increment('warm')
    let answered = 0
    let slowest = 0
    let done = false
    const caller = async (n: number) => {
      while (!done) {
        const started = performance.now()
        await store.increment(`n${n % 4}`).then(
          () => answered++,
          () => undefined,
        )
        slowest = Math.max(slowest, performance.now() - started)
      }
    }
    const callers = Array.from({ length: 64 }, (_, n) => caller(n))
    await until('steady writes', async () => answered >= 500)
    await primaryAdmin.call('DEBUG', 'SLEEP', 6)
    const thawed = answered
    await until('answers again', async () => answered > thawed + 64)
    done = true
    await Promise.all(callers)
    t.diagnostic(`slowest call: ${Math.round(slowest)} ms`)
    assert.ok(slowest <= bound, `the slowest call took ${Math.round(slowest)} ms, over ${bound} ms`)
  })
}

test('with the replica stopped, each write rejects with DurabilityError and the counts, and stays applied', async () => {
  await replica.stop()
  await until('the primary saw its replica go', async () => {
    return (await infoField(primaryAdmin, 'replication', 'connected_slaves')) === '0'
  })
  const wanted = { replicas: 1, timeout: 50 }
  const { store, namespace } = storeOn(primary.url, wanted)
  for (const [op, write] of writes(store)) {
    await assert.rejects(write(), (error: Error) => {
      assert.ok(error instanceof DurabilityError, `${op}: ${String(error)}`)
      assert.equal(error.code, 'ERR_DURABILITY')
      assert.equal(error.replicas, 0)
      assert.equal(error.localAof, false)
      assert.deepEqual(error.wanted, wanted)
      assert.match(error.message, /0 of 1 replicas acknowledged/)
      // It names the call as the caller made it: the key, never the namespaced one.
      const key = { set: 's', setMany: undefined, setIfNotExists: 'claim', increment: 'n', update: 'u' }[op]
      assert.ok(
        error.message.startsWith(key === undefined ? `store.${op}:` : `store.${op} '${key}':`),
        error.message,
      )
      assert.ok(!error.message.includes(namespace), error.message)
      return true
    })
  }
  assert.deepEqual(
    await primaryAdmin.mget(['s', 'm1', 'm2', 'claim', 'n', 'u'].map((k) => `${namespace}:store:${k}`)),
    ['1', '1', '2', '1', '1', '1'],
  )
  // A call's own waitFor overrides the store's.
  await store.set('s', 2, { waitFor: { replicas: 0 } })
})

test('waitFor { aof: true } against a server with appendonly on', async () => {
  const server = await startRedis({ extra: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  try {
    const admin = new Redis(server.url)
    const version = (await infoField(admin, 'server', 'redis_version')) ?? '0'
    admin.disconnect()
    const { store } = storeOn(server.url, { aof: true, timeout: 1000 })
    const [major = 0, minor = 0] = version.split('.').map(Number)
    if (major > 7 || (major === 7 && minor >= 2)) {
      for (const [, write] of writes(store)) await write()
    } else {
      // Before 7.2 there is no WAITAOF: the write is applied, its fsync cannot be confirmed.
      for (const [op, write] of writes(store)) {
        await assert.rejects(write(), (error: Error) => {
          assert.ok(error instanceof DurabilityError, `${op}: ${String(error)}`)
          assert.equal(error.localAof, false)
          assert.match(error.message, /WAITAOF failed/)
          return true
        })
      }
    }
  } finally {
    await server.stop()
  }
})

/**
 * Against servers with no replica, a WAIT answers 0 of 1 at its own timeout, four times the
 * fleet's commandTimeout. It was cut off at commandTimeout ("WAIT failed: Command timed out"),
 * and so was the read queued behind it on the same connection (`k` and `other` share a slot).
 * A read of another slot of the same master (`{o}`, slot 7497, and `{k}`, 7629, are both on the
 * second of three masters as redis-cli splits them) waits with it too: on a node-redis cluster,
 * timed per slot, it timed out (helper-219, 10 of 10 with one attempt).
 */
async function waitOutlivesCommandTimeout(options: FleetOptions): Promise<void> {
  const fleet = createFleet({
    ...options,
    namespace: uniqueNamespace('durable'),
    commandTimeout: 250,
    retry: { attempts: 1 },
  })
  fleets.push(fleet)
  const plain = fleet.store<number>()
  await plain.setMany([
    ['{k}other', 7],
    ['{o}other', 8],
  ])
  const write = fleet.store<number>({ waitFor: { replicas: 1, timeout: 1000 } }).set('{k}', 1)
  const reads = [plain.get('{k}other'), plain.get('{o}other')]
  await assert.rejects(write, (error: Error) => {
    assert.ok(error instanceof DurabilityError, String(error))
    assert.equal(error.replicas, 0)
    assert.doesNotMatch(error.message, /timed out/)
    return true
  })
  assert.deepEqual(await Promise.all(reads), [7, 8])
  assert.equal(await plain.get('{k}'), 1, 'the write stays applied')
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a WAIT longer than commandTimeout is given its own timeout, and a read sent behind it is answered`, async () => {
    const lone = await startRedis()
    try {
      await waitOutlivesCommandTimeout({ url: lone.url, transport })
    } finally {
      await lone.stop()
    }
  })

  // On an ioredis cluster, ioredis' own per-command timer on the node cut it off.
  test(`${transport}, cluster: a WAIT longer than commandTimeout is given its own timeout, and a read sent behind it is answered`, async () => {
    await waitOutlivesCommandTimeout({ ...(await topologyOptions('cluster')), transport })
  })
}
