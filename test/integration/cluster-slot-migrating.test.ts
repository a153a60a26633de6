/**
 * A slot in the middle of a migration (CLUSTER SETSLOT MIGRATING/IMPORTING, some of its keys
 * MIGRATEd), as `redis-cli --cluster reshard` leaves it while it runs. The source master answers
 * ASK for a key it no longer holds; ioredis follows the ASK of a single command, but a pipeline
 * whose other commands were writes it hands back the ASK: writeMulti and setMany with a ttl
 * failed with a CommandError, outcome unknown, for as long as the migration ran.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { command, info } from '../harness/faults.ts'
import { type ClusterFleetKind, fileCluster } from '../harness/file-cluster.ts'
import type { RedisServer } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleetOn } = fileCluster()

/** The port of the master serving `slot`, and another master's. */
async function mastersOf(slot: number): Promise<{ source: number; target: number }> {
  const ports = cluster.servers.map((server) => server.port)
  const ranges = (await command(ports[0]!, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
  const [, , [, source]] = ranges.find(([from, to]) => from <= slot && slot <= to)!
  return { source, target: ports.find((port) => port !== source)! }
}

/** `count` names whose keys (`full(name)`) share one slot with no other key of the cluster. */
async function namesInOneSlot(full: (name: string) => string, count: number): Promise<string[]> {
  const ports = cluster.servers.map((server) => server.port)
  for (let i = 0; ; i++) {
    const slot = calculateSlot(full(`m${i}`))
    const counts = await Promise.all(ports.map((port) => command(port, 'CLUSTER', 'COUNTKEYSINSLOT', slot)))
    if (counts.some((n) => Number(n) !== 0)) continue
    const names = [`m${i}`]
    for (let j = 0; names.length < count; j++) {
      if (calculateSlot(full(`m${i}-${j}`)) === slot) names.push(`m${i}-${j}`)
    }
    return names
  }
}

/**
 * Starts moving the slot of `keys` from its master to another, and MIGRATEs `moved` there: the
 * slot is MIGRATING on the source and IMPORTING on the target. `finish` ends the migration.
 */
async function migrateHalfway(keys: readonly string[], moved: readonly string[]) {
  const slot = calculateSlot(keys[0]!)
  const { source, target } = await mastersOf(slot)
  const [sourceId, targetId] = (await Promise.all(
    [source, target].map((port) => command(port, 'CLUSTER', 'MYID')),
  )) as [string, string]
  await command(target, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId)
  await command(source, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId)
  await command(source, 'MIGRATE', '127.0.0.1', target, '', 0, 5000, 'KEYS', ...moved)
  return {
    finish: async () => {
      const rest = (await command(source, 'CLUSTER', 'GETKEYSINSLOT', slot, 1000)) as [string, string]
      if (rest.length > 0) await command(source, 'MIGRATE', '127.0.0.1', target, '', 0, 5000, 'KEYS', ...rest)
      for (const port of [target, source, ...cluster.servers.map((s) => s.port)]) {
        await command(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', targetId)
      }
    },
  }
}

for (const transport of ['ioredis', 'node-redis', 'injected ioredis'] as const) {
  test(`${transport}: writeMulti and setMany with a ttl write every key of a slot halfway through its migration`, async () => {
    const namespace = uniqueNamespace()
    const fleet = fleetOn(transport, namespace)
    const cache = fleet.cache({ errorHandler: ({ exception }) => assert.fail(String(exception)) })
    const store = fleet.store<number>()
    const cacheKey = (name: string) => `${namespace}:cache:${name}`
    const storeKey = (name: string) => `${namespace}:store:${name}`
    const names = await namesInOneSlot(cacheKey, 4)
    const others = Array.from({ length: 20 }, (_, i) => `k${i}`)
    const all = [...names, ...others]
    assert.equal(await cache.writeMulti(Object.fromEntries(all.map((name) => [name, 1]))), true)
    const storeNames = await namesInOneSlot(storeKey, 4)
    await store.setMany(storeNames.map((name) => [name, 1]))

    const cacheMove = await migrateHalfway(names.map(cacheKey), names.slice(0, 2).map(cacheKey))
    const storeMove = await migrateHalfway(storeNames.map(storeKey), storeNames.slice(0, 2).map(storeKey))
    try {
      assert.equal(await cache.writeMulti(Object.fromEntries(all.map((name) => [name, 2]))), true)
      await store.setMany(
        storeNames.map((name) => [name, 2]),
        { ttl: 60_000 },
      )
    } finally {
      await cacheMove.finish()
      await storeMove.finish()
    }
    assert.deepEqual(
      [...(await cache.readMulti(all)).values()],
      all.map(() => 2),
    )
    assert.deepEqual(
      await store.getMany(storeNames),
      storeNames.map(() => 2),
    )
  })
}

/**
 * A fleet on `transport` with four store keys and four cache entries of one slot each, written
 * as `value`, then both slots halfway through a migration with their first `moved` keys moved.
 * `finish` ends both migrations.
 */
async function keysMidMigration(transport: ClusterFleetKind, value: number, moved: number) {
  const namespace = uniqueNamespace()
  const fleet = fleetOn(transport, namespace)
  const store = fleet.store<number>()
  const cache = fleet.cache({ errorHandler: ({ exception }) => assert.fail(String(exception)) })
  const storeKey = (name: string) => `${namespace}:store:${name}`
  const cacheKey = (name: string) => `${namespace}:cache:${name}`
  const names = await namesInOneSlot(storeKey, 4)
  const entries = await namesInOneSlot(cacheKey, 4)
  await store.setMany(names.map((name) => [name, value]))
  assert.equal(await cache.writeMulti(Object.fromEntries(entries.map((name) => [name, value]))), true)
  const storeMove = await migrateHalfway(names.map(storeKey), names.slice(0, moved).map(storeKey))
  const cacheMove = await migrateHalfway(entries.map(cacheKey), entries.slice(0, moved).map(cacheKey))
  const finish = async () => {
    await storeMove.finish()
    await cacheMove.finish()
  }
  return { store, cache, names, entries, finish }
}

/**
 * A command of several keys of one slot, some moved and some not, is refused by Redis itself
 * (TRYAGAIN) until the migration ends: getMany, setMany, readMulti and deleteMulti failed for as
 * long as it ran, and on a user's ioredis Cluster setMany hung for good (the store's first
 * deadline failed the MSET in the middle of ioredis' later rounds, and its pipeline never
 * settled). Each key is now sent on its own, where it is.
 */
for (const transport of ['ioredis', 'node-redis', 'injected ioredis'] as const) {
  test(`${transport}: multi-key reads, writes and deletes of a slot halfway through its migration`, async () => {
    const { store, cache, names, entries, finish } = await keysMidMigration(transport, 1, 2)
    try {
      assert.deepEqual(await store.getMany(names), [1, 1, 1, 1])
      await store.setMany(names.map((name, i) => [name, i]))
      assert.deepEqual(await store.getMany(names), [0, 1, 2, 3])
      assert.deepEqual([...(await cache.readMulti(entries)).values()], [1, 1, 1, 1])
      assert.equal(await cache.deleteMulti(entries), 4)
      assert.equal((await cache.readMulti(entries)).size, 0)
    } finally {
      await finish()
    }
    assert.deepEqual(await store.getMany(names), [0, 1, 2, 3])
  })
}

/**
 * SPEC §2: calls on one key are applied in the order they were made, awaited or not. A command
 * of a multi-key call that a migrating slot refused is sent again once the pipeline's replies are
 * in; a later call on the same key, followed by the cluster client at once, got there first and
 * its value was overwritten by the older one (helper-302: 5 of 5 on ioredis).
 */
for (const transport of ['ioredis', 'node-redis', 'injected ioredis'] as const) {
  test(`${transport}: a later call on a key of a multi-key write to a migrating slot is applied after it`, async () => {
    const { store, cache, names, entries, finish } = await keysMidMigration(transport, 0, 1)
    const [moved] = names as [string]
    const [movedEntry] = entries as [string]
    try {
      // With a ttl: a SET per key (ASK for the moved one); without: one MSET (TRYAGAIN).
      await Promise.all([
        store.setMany(
          names.map((name) => [name, 1]),
          { ttl: 60_000 },
        ),
        store.set(moved, 2),
      ])
      assert.equal(await store.get(moved), 2)
      await Promise.all([store.setMany(names.map((name) => [name, 3])), store.set(moved, 4)])
      assert.equal(await store.get(moved), 4)
      await Promise.all([
        cache.writeMulti(Object.fromEntries(entries.map((name) => [name, 1]))),
        cache.write(movedEntry, 2),
      ])
      assert.equal(await cache.read(movedEntry), 2)
    } finally {
      await finish()
    }
  })
}

/** A name whose key `full(name)` a master other than `port`'s serves, or `port`'s with `on`. */
async function nameServed(full: (name: string) => string, port: number, on: boolean): Promise<string> {
  for (let i = 0; ; i++) {
    const { source } = await mastersOf(calculateSlot(full(`n${i}`)))
    if ((source === port) === on) return `n${i}`
  }
}

/**
 * On a cluster a multi-key call holds its keys until the replies of its attempt are in (above),
 * then lets later calls on them go; once one is made, it is not sent again after a failure
 * (src/store/order.ts): its retry would write its older values over the later call's.
 */
for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a multi-key write that a frozen master holds is not sent again over a later call on one of its keys`, async () => {
    const namespace = uniqueNamespace()
    const fleet = fleetOn(transport, namespace, {
      commandTimeout: 300,
      retry: { attempts: 3 },
      onError: () => {},
    })
    const store = fleet.store<number>()
    const storeKey = (name: string) => `${namespace}:store:${name}`
    const [frozen] = cluster.servers as [RedisServer]
    const held = await nameServed(storeKey, frozen.port, true)
    const free = await nameServed(storeKey, frozen.port, false)
    await store.setMany([
      [held, 0],
      [free, 0],
    ])
    const pid = Number((await info(frozen.port, 'server')).get('process_id'))
    process.kill(pid, 'SIGSTOP')
    try {
      const many = assert.rejects(
        store.setMany([
          [held, 1],
          [free, 1],
        ]),
      )
      await store.set(free, 2)
      await many
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    assert.equal(await store.get(free), 2)
  })
}
