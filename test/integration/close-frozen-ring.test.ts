/**
 * fleet.close() while a ring node is frozen (SIGSTOP): each connection to it waits out its QUIT
 * limit before it is dropped. The near cache's tracking connections, the pub/sub connections
 * and the command connections close at once, so those limits overlap: one after another they
 * added up (5-6 s with every primitive).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { QUIT_LIMIT } from '../../src/topology/connection.ts'
import { info } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

const servers: RedisServer[] = []
let frozen: number | undefined
after(async () => {
  if (frozen !== undefined) process.kill(frozen, 'SIGCONT')
  await Promise.all(servers.map((server) => server.stop()))
})

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a fleet with a near cache, a broker and a store closes within one QUIT limit of a frozen ring node`, async () => {
    if (servers.length === 0) servers.push(...(await Promise.all([startRedis(), startRedis(), startRedis()])))
    const fleet = createFleet({
      url: servers.map((server) => server.url),
      transport,
      namespace: `frozen-${transport}`,
    })
    const cache = fleet.cache({ near: { max: 100 } })
    const store = fleet.store()
    await fleet.broker().subscribe(() => {})
    for (let i = 0; i < 30; i++) {
      await store.set(`k${i}`, i)
      await cache.write(`c${i}`, i)
      await cache.read(`c${i}`)
    }
    frozen = Number((await info(servers[0]!.port, 'server')).get('process_id'))
    process.kill(frozen, 'SIGSTOP')
    try {
      const start = performance.now()
      await fleet.close()
      const took = performance.now() - start
      // One limit, and the time to drop what did not answer: not two or three of them in turn.
      assert.ok(took < 1.5 * QUIT_LIMIT, `close took ${Math.round(took)} ms`)
    } finally {
      process.kill(frozen, 'SIGCONT')
      frozen = undefined
    }
  })
}
