/**
 * A command that gets no reply in time names the node that did not answer: with one of three
 * ring nodes frozen, "tracker.orphans timed out: Command timed out" left an operator guessing
 * which (helper-187, helper-191). Both transports, one server held by CLIENT PAUSE.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet, TimeoutError } from '../../src/index.ts'
import { clientPause } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const commandTimeout = 200

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a timeout names the node that did not answer`, async () => {
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace('timeout-node'),
      transport,
      commandTimeout,
      retry: { attempts: 1 },
      onError: () => {},
    })
    try {
      await fleet.ready()
      // Twice the timeout: the pause ends before the next test's commands.
      await clientPause(server, 2 * commandTimeout)
      const error = await fleet
        .store()
        .get('k')
        .then(
          () => assert.fail('it resolved'),
          (e: unknown) => e,
        )
      assert.ok(error instanceof TimeoutError, String(error))
      assert.match(
        error.message,
        new RegExp(`127\\.0\\.0\\.1:${server.port}\\b.*within ${commandTimeout} ms`),
      )
    } finally {
      await fleet.close()
    }
  })
}
