/**
 * SPEC §1: at most one warning per node per change of its state, never one per call. A fleet's
 * background loops of blocking reads (consume, tailEvents, membership.inbox) each have a read in
 * flight when their node dies, so each used to warn that its read lost its connection (4 loops:
 * 4 warnings besides the node's own, on node-redis up to 6); and each consumer of a group lost
 * with the restarted node's data warned NOGROUP. Now the node going down is warned once, and the
 * group made again once, by the loop that made it.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { waitUntil } from '../harness/faults.ts'
import { inbox } from '../harness/inbox.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { countWarnings } from '../harness/warnings.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a node's outage under four blocking loops is one warning; the group made again, one more`, async () => {
    const warned = countWarnings()
    const warnings = warned.messages
    // No onError: the fleet's default, a RedfleetWarning each.
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace('loop-warnings'), transport })
    const stop = new AbortController()
    const signal = stop.signal
    const consumed = inbox<unknown>()
    const streams = fleet.streams()
    const loops: Promise<unknown>[] = []
    try {
      await streams.ensureGroup('g')
      loops.push(
        streams.consume('g', 'c1', (d) => consumed.push(d.envelope.n), { signal }),
        streams.consume('g', 'c2', (d) => consumed.push(d.envelope.n), { signal }),
        streams.tailEvents(() => undefined, { signal }),
        (async () => {
          for await (const _ of fleet.membership().inbox('m1', { signal })) {
            // nothing to do with them
          }
        })(),
      )
      await streams.publish({ n: 1 })
      await consumed.until(1)
      await server.kill()
      await waitUntil('the node announced down', async () => warnings.some((w) => / is down \(/.test(w)))
      await server.restart()
      // Back: a publish lands (the server kept nothing, so the group is made again) and is consumed.
      await waitUntil('a publish after the restart', () => streams.publish({ n: 2 }).then(() => true))
      await consumed.until(2, 30_000)
      // A warning is an event Node emits on a later tick: the consumer that made the group again
      // told it before the entry was read, but another consumer may hand the entry over first.
      await waitUntil('the group made again reported', async () => warnings.some((w) => /NOGROUP/.test(w)))
      const down = warnings.filter((w) => / is down \(/.test(w))
      const remade = warnings.filter((w) => /NOGROUP/.test(w))
      assert.equal(down.length, 1, warnings.join('\n'))
      assert.equal(remade.length, 1, warnings.join('\n'))
      assert.deepEqual(
        warnings.filter((w) => !down.includes(w) && !remade.includes(w)),
        [],
        'no warning from each loop',
      )
    } finally {
      stop.abort()
      await Promise.allSettled(loops)
      await fleet.close()
      warned.stop()
    }
  })
}
