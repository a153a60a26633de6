/**
 * While a node is known down, calls on it fail at once (SPEC §8), without I/O. A caller that
 * tries again at once in a loop (a worker polling) must still let the event loop turn now and
 * then: told within the same run of microtasks, a few such loops starved their own process, so
 * no timer ran and the reconnect that ends the outage never came (the process hung). A few
 * failures are still told at once: a failsafe read answers in microseconds during an outage.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createFleet, failsafe, NodeDownError } from '../../src/index.ts'
import { SPIN_LIMIT } from '../../src/retry.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Failures each loop meets before it stops. */
const FAILURES = 500

/**
 * Runs the loops `start` starts, each meeting FAILURES failures, and asserts that the event loop
 * turned (an immediate ran) at least once per SPIN_LIMIT failures of them all.
 */
async function assertTurnsWhile(start: () => Promise<unknown>[], what: string): Promise<void> {
  let turns = 0
  let turning = true
  const turn = () => {
    turns++
    if (turning) setImmediate(turn)
  }
  setImmediate(turn)
  const loops = start()
  try {
    await Promise.all(loops)
  } finally {
    turning = false
  }
  const failures = loops.length * FAILURES
  assert.ok(turns >= failures / SPIN_LIMIT - 1, `${turns} event-loop turns for ${failures} ${what}`)
}

test('calls refused while a node is down let the event loop turn now and then', async () => {
  const server = await startRedis()
  const fleet = createFleet({ url: server.url, namespace: uniqueNamespace('yields'), onError() {} })
  try {
    const store = fleet.store()
    const cache = fleet.cache({ errorHandler() {} })
    const broker = fleet.broker({ channel: 'yields' })
    await store.set('k', 1)
    await server.stop()
    // Until the fleet knows the node is down: then every call fails fast.
    for (let error: unknown; !(error instanceof NodeDownError); await sleep(10)) {
      error = await store.get('k').then(
        () => undefined,
        (e: unknown) => e,
      )
    }
    await assertTurnsWhile(
      () => [
        ...[1, 2].map(async () => {
          for (let failed = 0; failed < FAILURES; ) await store.get('k').catch(() => failed++)
        }),
        // The cache's failsafe answers a miss for the same failure: its loops spin the same way.
        ...[1, 2].map(async () => {
          for (let i = 0; i < FAILURES; i++) assert.equal(await cache.read('k'), undefined)
        }),
        // A broker publish resolves when it fails (onError): a publishing loop spins the same way.
        (async () => {
          for (let i = 0; i < FAILURES; i++) await broker.publish('m')
        })(),
      ],
      'failures',
    )
  } finally {
    await fleet.close()
  }
})

test('calls refused by a closed fleet let the event loop turn now and then', async () => {
  // A worker loop that stops on a flag its shutdown sets on a timer, after fleet.close().
  const fleet = createFleet({ namespace: uniqueNamespace('yields-closed') })
  const store = fleet.store()
  const cache = fleet.cache()
  const tracker = fleet.tracker()
  const membership = fleet.membership()
  const safe = failsafe(fleet.store(), { onError() {} })
  const streams = fleet.streams()
  await fleet.close()
  const calls = [
    () => store.get('k'),
    () => store.getMany([]),
    () => cache.read('k'),
    () => cache.readMulti([]),
    () => tracker.track('j', 1, async () => 1),
    () => tracker.orphans(),
    () => tracker.start(),
    () => membership.owner('k', ['a']),
    () => membership.inbox('m')[Symbol.asyncIterator]().next(),
    () => safe.get('k'),
    // A consumer that starts consuming again when consume ends with an error.
    () => streams.consume('g', 'c', () => undefined),
    () => fleet.ready(),
  ]
  await assertTurnsWhile(
    () =>
      calls.map(async (call) => {
        for (let i = 0; i < FAILURES; i++) await call().catch(() => undefined)
      }),
    'refusals',
  )
})
