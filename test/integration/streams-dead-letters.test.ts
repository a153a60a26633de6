/**
 * Dead letters are written once per entry: an entry the handler gave up on is dead-lettered and
 * acked, and a reclaim pass that runs before that ack reached Redis must not take the entry
 * again (it would be dead-lettered a second time, or handed to a handler after its ack).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { forEachTopology } from '../harness/topologies.ts'

forEachTopology('streams dead letters', (env) => {
  test('an entry that fails maxDeliveries times is dead-lettered exactly once, even when reclaims run often', async () => {
    const fleet = await env.fleet()
    const streams = fleet.streams()
    const minIdle = 20
    await streams.ensureGroup('dl')
    for (let n = 0; n < 3; n++) await streams.publish({ n })
    const controller = new AbortController()
    let failures = 0
    const consuming = streams.consume(
      'dl',
      'c1',
      async () => {
        failures++
        // Longer than minIdle: by the time the loop goes on, the entry is idle enough to reclaim.
        await sleep(minIdle * 2)
        throw new Error('always fails')
      },
      { signal: controller.signal, minIdle, maxDeliveries: 1 },
    )
    try {
      // Done when the group has acked everything: each entry was handled once and dead-lettered.
      while ((await streams.groupLag('dl')) > 0) await sleep(minIdle)
      // Several more reclaim passes: none may find an entry again.
      await sleep(minIdle * 10)
    } finally {
      controller.abort()
      await consuming
    }
    const dead = await streams.readRange('dl:dead')
    assert.deepEqual(
      dead.map((d) => (d.envelope.envelope as { n: number }).n).sort(),
      [0, 1, 2],
      'one dead letter per entry',
    )
    assert.equal(failures, 3, 'each entry handled once (maxDeliveries 1)')
  })
})
