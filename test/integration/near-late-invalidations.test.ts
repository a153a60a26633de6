/**
 * Near-cache invalidations that reach the process late: behind a backlog of broker messages on
 * the same subscriber connection (helper-321: a listener taking 1 ms per message had near hits
 * 12 s old, past a bound of 7 s, with the process turning all along), or a slow link. Here a
 * proxy holds back what Redis sends the subscriber connection, and nothing else is slow: a read
 * that starts the invalidation bound after a write was acknowledged must not return the value
 * from before it, and once what was held arrives the near cache serves again.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { invalidationBound } from '../../src/cache/tracking.ts'
import { createFleet } from '../../src/index.ts'
import { untilNearHit } from '../harness/near-cache.ts'
import { redisProxy } from '../harness/redis-proxy.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

const connectTimeout = 300
const commandTimeout = 200
const bound = invalidationBound(connectTimeout, commandTimeout)

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: while the subscriber connection's messages are held back, no near-cache read made the bound after a write returns the old value`, async () => {
    const server = await startRedis()
    const proxy = await redisProxy(server.port)
    cleanups.push(
      () => server.stop(),
      () => proxy.close(),
    )
    const namespace = uniqueNamespace('late')
    const reported: string[] = []
    const reader = createFleet({
      url: proxy.url,
      namespace,
      transport,
      connectTimeout,
      commandTimeout,
      onError: (e) => void reported.push(String(e)),
    })
    const writer = createFleet({ url: server.url, namespace, transport })
    cleanups.push(
      () => reader.close(),
      () => writer.close(),
    )
    const near = reader.cache({ near: { max: 100 } })
    const cache = writer.cache()
    await cache.write('k', 'old')
    await untilNearHit(near, 'k', 10_000, reported)

    proxy.holdSubscribers()
    await cache.write('k', 'new')
    const acknowledged = performance.now()
    const stale: number[] = []
    let late = 0
    // Reads for twice the bound, a few ms apart: the process turns all along.
    while (performance.now() - acknowledged < 2 * bound) {
      const started = performance.now()
      const value = await near.read('k')
      if (started - acknowledged >= bound) {
        late++
        if (value !== 'new') stale.push(Math.round(started - acknowledged))
      }
      await sleep(5)
    }
    assert.ok(late > 0)
    assert.deepEqual(stale, [], `old values read this many ms after the write (bound ${bound} ms)`)

    proxy.release()
    await untilNearHit(near, 'k', 10_000, reported)
    assert.equal(await near.read('k'), 'new')
    await cache.write('k', 'newer')
    await sleep(bound)
    assert.equal(await near.read('k'), 'newer')
  })
}
