/**
 * docs/streams.md: an entry whose handler failed is delivered again within
 * `minIdle + min(minIdle / 2, 2 s)` of its last delivery. The consumer timed its reclaim passes
 * on the wall clock: a step of it back (NTP, a resumed VM) held redelivery off by the whole
 * step (helper-308: not within 8 s after a step of 60 s, with minIdle 1000). Redis' own clock is
 * not stepped here: only the process's `Date.now` is.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

test('a step of the wall clock back does not hold off the redelivery of a failed entry', async () => {
  const fleet = createFleet({ ...(await topologyOptions('standalone')), namespace: uniqueNamespace('step') })
  const streams = fleet.streams()
  const minIdle = 300
  await streams.publish({ n: 1 })
  const controller = new AbortController()
  const { now } = Date
  const deliveries: number[] = []
  let redelivered!: () => void
  const again = new Promise<void>((resolve) => (redelivered = resolve))
  const consuming = streams.consume(
    'g',
    'c1',
    () => {
      deliveries.push(performance.now())
      if (deliveries.length === 1) {
        // The clock steps a minute back as the handler fails.
        Date.now = () => now() - 60_000
        throw new Error('first delivery fails')
      }
      redelivered()
    },
    { signal: controller.signal, minIdle },
  )
  try {
    // Far from the minute of the step: the documented bound many times over.
    const bound = (minIdle + minIdle / 2) * 10
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(resolve, bound, 'not delivered again')
    })
    assert.equal(await Promise.race([again.then(() => 'delivered again'), late]), 'delivered again')
    clearTimeout(timer)
    assert.equal(deliveries.length, 2)
  } finally {
    Date.now = now
    controller.abort()
    await consuming
    await fleet.close()
  }
})

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: consume blocks for whole milliseconds, which Redis takes (helper-312)`, async () => {
    // A short minIdle makes a reclaim pass due often: the read before it blocks until then.
    const errors: unknown[] = []
    const fleet = createFleet({
      ...(await topologyOptions('standalone')),
      namespace: uniqueNamespace('block'),
      transport,
      onError: (error) => errors.push(error),
    })
    const streams = fleet.streams()
    const controller = new AbortController()
    const seen: unknown[] = []
    let all!: () => void
    const done = new Promise<void>((resolve) => (all = resolve))
    const consuming = streams.consume(
      'g',
      'c1',
      ({ envelope }) => {
        seen.push(envelope.n)
        if (seen.length === 5) all()
      },
      { signal: controller.signal, minIdle: 1000 },
    )
    try {
      // The loop's first reads block (nothing is there yet) until its reclaim pass is due.
      for (let n = 0; n < 5; n++) await streams.publish({ n })
      await done
      assert.deepEqual(seen, [0, 1, 2, 3, 4])
      assert.deepEqual(errors.map(String), [], 'no read refused by Redis')
    } finally {
      controller.abort()
      await consuming
      await fleet.close()
    }
  })
}
