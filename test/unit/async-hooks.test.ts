/**
 * An `onError` or `errorHandler` that is async and rejects (a logger whose sink is down) is
 * ignored as a throwing one is (SPEC §2): its rejection never becomes an unhandled rejection,
 * which ends a Node process by default. Each hook is called, and the call it reports on behaves
 * as with a hook that returns nothing.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as turn } from 'node:timers/promises'
import { ConnectionError, createFleet, failsafe, retry } from '../../src/index.ts'
import { rawAccess } from '../contract/cache-support.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Counts this process's unhandled rejections while `body` runs, and a few turns after. */
async function unhandledDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = []
  const listener = (reason: unknown) => void seen.push(reason)
  process.on('unhandledRejection', listener)
  try {
    await body()
    for (let i = 0; i < 5; i++) await turn()
  } finally {
    process.off('unhandledRejection', listener)
  }
  return seen
}

/** An async hook that rejects, counting its calls. */
function rejectingHook(): { hook: (...args: unknown[]) => Promise<void>; calls: () => number } {
  let calls = 0
  return {
    hook: async () => {
      calls++
      throw new Error('log sink down')
    },
    calls: () => calls,
  }
}

test("a fleet's async onError that rejects: a listener's failure reaches it, nothing is unhandled", async () => {
  const onError = rejectingHook()
  const fleet = createFleet({ memory: true, namespace: uniqueNamespace('hooks'), onError: onError.hook })
  const unhandled = await unhandledDuring(async () => {
    const broker = fleet.broker()
    const heard = new Promise<void>((resolve) => {
      broker.subscribe(() => {
        resolve()
        throw new Error('listener bug')
      })
    })
    await broker.ready()
    await broker.publish('m')
    await heard
  })
  await fleet.close()
  assert.equal(onError.calls(), 1)
  assert.deepEqual(unhandled, [])
})

test("a primitive's, a failsafe's and retry's async onError, and the cache's errorHandler, that reject", async () => {
  const namespace = uniqueNamespace('hooks')
  const fleet = createFleet({ memory: true, namespace })
  // A stream where a cache key and a store key live: reading them fails (WRONGTYPE), reported.
  const raw = await rawAccess('memory')
  for (const place of ['cache', 'store']) await raw.stream(`${namespace}:${place}:typed`)
  const store = rejectingHook()
  const safe = rejectingHook()
  const handler = rejectingHook()
  const retried = rejectingHook()
  const own = fleet.store({ onError: store.hook })
  const guarded = failsafe(fleet.store(), { onError: safe.hook })
  const cache = fleet.cache({ errorHandler: handler.hook })
  const unhandled = await unhandledDuring(async () => {
    assert.equal(await cache.read('typed'), undefined)
    await assert.rejects(own.get('typed'), { code: 'ERR_COMMAND' })
    await fleet.close()
    assert.equal(await guarded.get('k'), undefined)
    const failing = async () => {
      throw new ConnectionError('down')
    }
    await assert.rejects(retry(failing, { attempts: 2, base: 0, onError: retried.hook }), ConnectionError)
  })
  assert.deepEqual([store.calls(), safe.calls(), handler.calls(), retried.calls()], [1, 1, 1, 1])
  assert.deepEqual(unhandled, [])
})
