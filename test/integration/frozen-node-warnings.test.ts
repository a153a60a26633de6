/**
 * SPEC §1: at most one warning per node per change of its state. A frozen server (CLIENT PAUSE:
 * it accepts, answers nothing, closes nothing) is not known down, so nothing announces it; each
 * part of a fleet that watches it in the background used to warn on its own: the near-cache
 * tracking of every cache namespace ("ROLE timed out"), and every loop of blocking reads ("got
 * no reply"). Three namespaces and two loops: five warnings. Now the first of them is the one.
 * (A consume loop's own commands that time out, a reclaim or its acks, still warn per loop.)
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet, failsafe } from '../../src/index.ts'
import { convertDataStore } from '../../src/integrations/convert.ts'
import { clientPause, command, waitUntil } from '../harness/faults.ts'
import { inbox } from '../harness/inbox.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { countWarnings } from '../harness/warnings.ts'

/** The fleet's (default) commandTimeout: a near cache's ROLE check fails after it. */
const commandTimeout = 1000
/**
 * A blocking read with no reply fails after its block interval (1 s) + 2 s of grace
 * (src/streams/blocking-pool.ts); the pause outlasts that twice, so both kinds fail within it.
 */
const PAUSE = 2 * (1000 + 2000)

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a frozen node watched by three near caches and two loops is one warning`, async () => {
    const warned = countWarnings()
    const warnings = warned.messages
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace('frozen'),
      transport,
      commandTimeout,
    })
    const stop = new AbortController()
    const signal = stop.signal
    const loops: Promise<unknown>[] = []
    try {
      const caches = ['a', 'b', 'c'].map((namespace) => fleet.cache({ namespace, near: { max: 10 } }))
      for (const cache of caches) await cache.write('k', 1)
      // Each near cache tracks the node once its first read is answered live from it.
      await waitUntil('the near caches live', async () => {
        for (const cache of caches) await cache.read('k')
        return caches.every((cache) => cache.stats().nearHits > 0)
      })
      const streams = fleet.streams()
      await streams.ensureGroup('g')
      const consumed = inbox<unknown>()
      loops.push(
        streams.consume('g', 'c', (d) => consumed.push(d.envelope.n), { signal }),
        streams.tailEvents(() => undefined, { signal }),
      )
      await streams.publish({ n: 1 })
      await consumed.until(1)
      await clientPause(server, PAUSE)
      // Answered once the pause is over (no call of the fleet's meets it: a call timing out is
      // its caller's to hear, not a warning).
      await command(server.port, 'PING')
      // Thawed: the loops read again (a publish lands and is consumed).
      await streams.publish({ n: 2 })
      await consumed.until(2, 30_000)
      // A consume's own commands (a reclaim, acks) that time out are still its own warning, and
      // whether one is sent during the pause is timing: only the watchers' warnings are counted.
      const watchers = warnings.filter((w) => /near cache|got no reply/.test(w))
      assert.equal(watchers.length, 1, warnings.join('\n'))
    } finally {
      stop.abort()
      await Promise.allSettled(loops)
      await fleet.close()
      warned.stop()
    }
  })
}

test('calls failing during a freeze, with no caller to hear it (failsafe too), warn once, not once per call or per operation', async () => {
  const warned = countWarnings()
  const warnings = warned.messages
  // No onError, no errorHandler: the defaults warn. Calls time out long before the pause ends.
  const fleet = createFleet({
    url: server.url,
    namespace: uniqueNamespace('frozen-calls'),
    commandTimeout: 100,
  })
  try {
    const cache = fleet.cache()
    const broker = fleet.broker()
    const store = failsafe(fleet.store())
    const viewStore = failsafe(fleet.withNamespace('view').store())
    const visitors = failsafe(convertDataStore(fleet))
    await cache.write('k', 1)
    await broker.ready()
    await clientPause(server, 50 * 100)
    // A failsafe read returns a miss; a publish never rejects: both tell only the default sinks.
    await Promise.all(Array.from({ length: 10 }, () => cache.read('k')))
    await Promise.all(Array.from({ length: 10 }, (_, i) => broker.publish(`m${i}`)))
    // failsafe() of a store, a view's store or a Convert data store tells the fleet's sinks too.
    const failsafeCalls = Array.from({ length: 10 }, (_, i) => [
      store.get(`k${i}`),
      viewStore.get(`k${i}`),
      visitors.load(`v${i}`),
    ])
    assert.deepEqual(await Promise.all(failsafeCalls.flat()), Array(30).fill(undefined))
    await command(server.port, 'PING')
    // Reads first: the timeouts of every operation are one kind of failure (one frozen node).
    const timedOut = warnings.filter((w) => /^redfleet (cache\.read|broker\.publish|failsafe)/.test(w))
    assert.equal(timedOut.length, 1, warnings.join('\n'))
    assert.match(timedOut[0]!, /^redfleet cache\.read/)
  } finally {
    await fleet.close()
    warned.stop()
  }
})
