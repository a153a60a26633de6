/**
 * The `redfleet` commands with one node of a ring frozen (it takes connections and never
 * answers). They connect first (`connected`): `ready()` waits a whole connectTimeout for the
 * frozen node's handshake, so a `dlq list` of a channel on a healthy node took 8.9 s with the
 * defaults, and `status` 11–14 s (helper-191). After one commandTimeout, the answering rest of a
 * ring is enough to go on with; a standalone server that does not answer is still a failure.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { readDeadLetters } from '../../src/admin/dead-letters.ts'
import { connected } from '../../src/cli/common.ts'
import { ConnectionError, createFleet, type Fleet } from '../../src/index.ts'
import { startBlackHole } from '../harness/faults.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

/** A fleet on `urls` closed after the file, with a connectTimeout far longer than its commands'. */
function fleetOn(urls: string[], connectTimeout: number): Fleet {
  const fleet = createFleet({
    url: urls.length === 1 ? urls[0]! : urls,
    namespace: uniqueNamespace('cli-frozen'),
    connectTimeout,
    commandTimeout: 300,
    onError: () => {},
  })
  cleanups.push(() => fleet.close())
  return fleet
}

test('a ring with a frozen node: connected without waiting out connectTimeout, a healthy channel read', async () => {
  const servers = await Promise.all([startRedis(), startRedis()])
  cleanups.push(() => Promise.all(servers.map((s) => s.stop())))
  const frozen = await startBlackHole()
  cleanups.push(() => frozen.close())
  const connectTimeout = 20_000
  const fleet = fleetOn([...servers.map((s) => s.url), frozen.url], connectTimeout)
  const began = performance.now()
  await connected(fleet)
  const took = performance.now() - began
  assert.ok(
    took < connectTimeout / 2,
    `connected after ${Math.round(took)} ms (connectTimeout ${connectTimeout})`,
  )
  // A channel on a node that answers can be listed meanwhile (none of its keys is on the frozen one).
  const healthy = await Promise.any(
    Array.from({ length: 20 }, (_, i) => `dead-${i}`).map(async (channel) => {
      await fleet.streams().publishToChannel(channel, { n: 1 })
      return channel
    }),
  )
  assert.deepEqual((await readDeadLetters(fleet, healthy)).skipped, 1)
})

test('a standalone server that never answers: connected still fails, with ready()’s error', async () => {
  const frozen = await startBlackHole()
  cleanups.push(() => frozen.close())
  const fleet = fleetOn([frozen.url], 1_000)
  await assert.rejects(connected(fleet), ConnectionError)
})
