/**
 * `fleet.close()` leaves every joined id (docs/membership.md: it "does the same" as stop(), whose
 * failed leave rejects with its error). A leave that failed at close was dropped without a word,
 * while the tracker reports its own (helper-198): the member then stays live until its ttl, and
 * onError now says so.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { ConnectionError, createFleet } from '../../src/index.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const server = await startRedis()
after(() => server.stop())

test('a leave that fails as the fleet closes is reported to onError, naming the member', async () => {
  const errors: unknown[] = []
  const fleet = createFleet({
    url: server.url,
    namespace: uniqueNamespace('member-close'),
    onError: (error) => errors.push(error),
  })
  const membership = fleet.membership({ ttl: 60_000 })
  membership.join('m1')
  await membership.heartbeat('m1')
  await server.kill()
  await fleet.close()
  // Besides the fleet's own report of the node down.
  const leaves = errors.filter((error) => /membership\.leave 'm1'/.test(String(error)))
  assert.equal(leaves.length, 1, String(errors))
  assert.ok(leaves[0] instanceof ConnectionError, String(leaves[0]))
})
