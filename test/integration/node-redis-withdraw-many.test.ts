/**
 * A fleet on a node-redis client it opened itself, closed while hundreds of its calls still wait
 * in the client's queue: they are withdrawn (aborted), and the client, which is the user's and
 * stays open, goes on serving its user. node-redis 5's queue is a linked list that left a stale
 * link behind each time its head was removed: after 100+ withdrawals in arrival order its tail
 * pointed at a removed command, and the user's next commands were never written (a reviewer's
 * `set`, `ping` and `get` still pending 15 s after close). Both node-redis versions.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createClient as createClient5 } from 'node-redis5'
import { createClient as createClient6 } from 'node-redis6'
import { ClosedError, createFleet } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { settledWithin } from '../harness/settled.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

for (const [version, createClient] of [
  ['node-redis 5', createClient5],
  ['node-redis 6', createClient6],
] as const) {
  test(`${version}: after close withdrew 300 queued calls, the user's own commands on the client are served`, async () => {
    // One shape for both versions' clients, as far as this test uses them.
    const client = (createClient as typeof createClient5)({ url: server.url })
    client.on('error', () => undefined)
    const namespace = uniqueNamespace()
    const fleet = createFleet({ client, namespace })
    const store = fleet.store<number>()
    // The client is opening: these wait in its queue until close withdraws them.
    const calls = Array.from({ length: 300 }, (_, i) =>
      store.set(`k${i}`, i).catch((error: unknown) => error),
    )
    await fleet.close()
    for (const result of await Promise.all(calls)) {
      if (result !== undefined) assert.ok(result instanceof ClosedError, String(result))
    }
    try {
      // Far beyond a round trip on loopback: a command still pending then was never written.
      assert.deepEqual(await settledWithin(client.set(`${namespace}:user`, 'v'), 10_000), { value: 'OK' })
      assert.deepEqual(await settledWithin(client.ping(), 10_000), { value: 'PONG' })
      assert.deepEqual(await settledWithin(client.get(`${namespace}:user`), 10_000), { value: 'v' })
    } finally {
      client.destroy()
    }
  })
}
