/**
 * SPEC §2 call order on a server that has never run redfleet's scripts (a new or restarted
 * server): the first scripted call on a key (a claim, a counter step) is sent with its source,
 * not by SHA first (whose NOSCRIPT fallback would go out after the calls made meanwhile), so a
 * call made right after it, not awaited, sees it.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet, type Fleet } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

/** SCRIPT FLUSH on the server at `url`. */
async function flushScripts(url: string): Promise<void> {
  const client = new Redis(url)
  await client.script('FLUSH')
  client.disconnect()
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`on ${transport}, the first claim and counter steps are seen by the calls made right after them`, async (t) => {
    const fleet: Fleet = createFleet({ url: server.url, namespace: `first-${transport}`, transport })
    t.after(() => fleet.close())
    const store = fleet.store<number>()
    const cache = fleet.cache()
    await fleet.ready()
    // This file's own server: what an earlier test ran there is forgotten.
    await flushScripts(server.url)
    // Each script's first run on this server, each followed at once by a read of its key.
    const claimed = store.setIfNotExists('claim', 1)
    const claimRead = store.get('claim')
    const counted = store.increment('counter', 2)
    const counterRead = store.get('counter')
    const cached = cache.increment('cached', 3)
    const cachedRead = cache.readCounter('cached')
    assert.deepEqual(await Promise.all([claimed, claimRead, counted, counterRead, cached, cachedRead]), [
      true,
      1,
      2,
      2,
      3,
      3,
    ])
    // With waitFor (a pipeline with its WAIT; this server has no replica: applied, not durable).
    await flushScripts(server.url)
    const waitFor = { replicas: 1, timeout: 10 }
    const durable = store.setIfNotExists('durable', 4, { waitFor }).catch((e: { code?: string }) => e.code)
    const durableRead = store.get('durable')
    assert.deepEqual(await Promise.all([durable, durableRead]), ['ERR_DURABILITY', 4])
  })
}
