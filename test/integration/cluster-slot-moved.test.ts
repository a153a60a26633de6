/**
 * A slot that finished moving to another master while the fleet's slot map still names the old
 * one (SPEC §1: multi-key calls are split per slot and never fail for it). ioredis follows a
 * single command's MOVED, but hands back the MOVED a pipeline got for some of its commands: a
 * reviewer's setMany and writeMulti failed with a raw `MOVED` after every finished move (the
 * other slots' keys written, the moved one not), and the retries went to the same master. Both
 * transports: a multi-key write right after a move writes every key.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TimeoutError } from '../../src/index.ts'
import { inEmptySlot, info, moveEmptySlotOf } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleetOn } = fileCluster()

for (const transport of ['ioredis', 'node-redis', 'injected ioredis'] as const) {
  test(`${transport}: setMany and writeMulti right after a slot moved write every key`, async () => {
    const namespace = uniqueNamespace()
    const fleet = fleetOn(transport, namespace)
    const store = fleet.store<number>()
    const cache = fleet.cache({ errorHandler: ({ exception }) => assert.fail(String(exception)) })
    const names = Array.from({ length: 40 }, (_, i) => `k${i}`)
    // The fleet's slot map is read (the keys' masters are known) before the move.
    await store.setMany(names.map((name) => [name, 1]))
    await cache.writeMulti(Object.fromEntries(names.map((name) => [name, 1])))

    const storeKey = (name: string) => `${namespace}:store:${name}`
    const movedInStore = await inEmptySlot(cluster.urls, storeKey, names)
    await moveEmptySlotOf(storeKey(movedInStore), cluster.urls)
    const all = [...names, movedInStore]
    await store.setMany(all.map((name) => [name, 2]))
    assert.deepEqual(
      await store.getMany(all),
      all.map(() => 2),
    )

    const cacheKey = (name: string) => `${namespace}:cache:${name}`
    const movedInCache = await inEmptySlot(cluster.urls, cacheKey, names)
    await moveEmptySlotOf(cacheKey(movedInCache), cluster.urls)
    const entries = [...names, movedInCache]
    assert.equal(await cache.writeMulti(Object.fromEntries(entries.map((name) => [name, 2]))), true)
    assert.deepEqual(
      [...(await cache.readMulti(entries)).values()],
      entries.map(() => 2),
    )
  })
}

/**
 * SPEC §2: a `get` made right after a `setMany` (not awaited) reads what it wrote. ioredis hands
 * back the MOVED a pipeline got for a slot that moved, and the setMany was sent again by a retry
 * after the `get` had gone, which followed the MOVED at once and read the value from before
 * (helper-303, during a live reshard). The MOVED part is now sent again within the attempt.
 */
for (const transport of ['ioredis', 'node-redis', 'injected ioredis'] as const) {
  test(`${transport}: a get right after a setMany whose slot moved reads what the setMany wrote`, async () => {
    const namespace = uniqueNamespace()
    const fleet = fleetOn(transport, namespace)
    const store = fleet.store<number>()
    const names = Array.from({ length: 10 }, (_, i) => `k${i}`)
    await store.setMany(names.map((name) => [name, 0]))
    const storeKey = (name: string) => `${namespace}:store:${name}`
    const moving = await inEmptySlot(cluster.urls, storeKey, names)
    await moveEmptySlotOf(storeKey(moving), cluster.urls)
    const all = [...names, moving]
    const many = store.setMany(all.map((name) => [name, 1]))
    const read = store.get(moving)
    const readMany = store.getMany(all)
    assert.equal(await read, 1)
    assert.deepEqual(
      await readMany,
      all.map(() => 1),
    )
    await many
  })
}

// The first master answered (MOVED): a timeout of the new one that stays silent is its own.
for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a command redirected to a frozen master times out naming that master, not the one that redirected it`, async () => {
    const namespace = uniqueNamespace()
    const fleet = fleetOn(transport, namespace, { commandTimeout: 300, retry: { attempts: 1 } })
    const store = fleet.store<number>()
    const storeKey = (name: string) => `${namespace}:store:${name}`
    const moving = await inEmptySlot(cluster.urls, storeKey)
    // Every master connected, and the slot map read, before the move.
    await fleet.ready()
    assert.equal(await store.get(moving), undefined)
    const { from, to } = await moveEmptySlotOf(storeKey(moving), cluster.urls)
    const pid = Number((await info(Number(new URL(to).port), 'server')).get('process_id'))
    process.kill(pid, 'SIGSTOP')
    try {
      await assert.rejects(store.get(moving), (error: unknown) => {
        assert.ok(error instanceof TimeoutError, String(error))
        assert.match(error.message, new RegExp(`no reply from ${new URL(to).host} `))
        assert.doesNotMatch(error.message, new RegExp(new URL(from).host))
        return true
      })
    } finally {
      process.kill(pid, 'SIGCONT')
    }
  })
}
