/**
 * WAITs queued on one connection block one after another, so each command's deadline waits for
 * those ahead of it (docs/store.md). On ioredis 5 a command answered with an error reply never
 * looks settled (it marks resolved commands only): at its deadline the connection looked frozen,
 * and the WAITs behind it were cut at their own deadlines, TimeoutError instead of the
 * DurabilityError they were owed (helper-194). An injected ioredis 5 client, one server, no
 * replica: every WAIT runs out its timeout.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis as Redis5 } from 'ioredis5'
import { createFleet, DurabilityError } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

test('ioredis 5: an error reply among queued WAITs does not cut the WAITs behind it short', async () => {
  const client = new Redis5(server.port, '127.0.0.1')
  const fleet = createFleet({
    client,
    namespace: uniqueNamespace('wait-chain'),
    commandTimeout: 300,
    onError: () => {},
  })
  try {
    const store = fleet.store()
    await store.set('not-a-number', 'x')
    await store.increment('warm')
    const waitFor = { replicas: 1, timeout: 600 }
    const writes = Array.from({ length: 6 }, (_, i) => i)
    const outcomes = await Promise.all([
      ...writes.slice(0, 3).map((i) => store.set(`k${i}`, i, { waitFor }).catch((e: unknown) => e)),
      // Answered at once with an error (its WAIT right behind it), between three WAITs and three more.
      store.increment('not-a-number', 1, { waitFor }).catch((e: unknown) => e),
      ...writes.slice(3).map((i) => store.set(`k${i}`, i, { waitFor }).catch((e: unknown) => e)),
    ])
    const writesOutcomes = [...outcomes.slice(0, 3), ...outcomes.slice(4)]
    assert.deepEqual(
      writesOutcomes.map((e) => (e instanceof Error ? e.name : String(e))),
      writes.map(() => 'DurabilityError'),
    )
    assert.ok(writesOutcomes.every((e) => e instanceof DurabilityError))
  } finally {
    await fleet.close()
    client.disconnect()
  }
})
