/**
 * The operation runner's retry across close (src/context.ts): a call waiting out its backoff
 * ends as close begins, without sending its retry; a finishing step, let through while the fleet
 * drains, keeps its backoff.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type FleetContext, runCommand, runFinishing } from '../../src/context.ts'
import { ClosedError } from '../../src/errors.ts'
import { Lifecycle } from '../../src/lifecycle.ts'
import { resolveRetry } from '../../src/retry.ts'
import { settledWithin } from '../harness/settled.ts'

/** What the runner reads of a fleet: its lifecycle, namespace and topology handle. */
function contextOf(lifecycle: Lifecycle): FleetContext {
  return {
    lifecycle,
    topology: 'standalone',
    keys: { namespace: 'rf' },
    redisHandle: { current: undefined },
  } as unknown as FleetContext
}

const policy = (base: number) => ({
  retry: resolveRetry({ attempts: 3, base, max: 60_000, jitter: 0 }),
  onError: () => {},
})

/**
 * A closing fleet's lifecycle that drains until `drained()`: close waits for a cleanup that
 * ends then, and the connections stay open meanwhile.
 */
function draining(): { lifecycle: Lifecycle; drained: () => void; closing: Promise<void> } {
  const lifecycle = new Lifecycle()
  let drained = () => {}
  lifecycle.onClose(() => new Promise<void>((resolve) => (drained = resolve)))
  return { lifecycle, drained: () => drained(), closing: lifecycle.close() }
}

const loading = () =>
  Object.assign(new Error('LOADING Redis is loading the dataset in memory'), { name: 'ReplyError' })

test('a call waiting out its backoff rejects with ClosedError as close begins, its retry never sent', async () => {
  const lifecycle = new Lifecycle()
  let tries = 0
  // A backoff of a minute: only close can end the wait.
  const call = runCommand(contextOf(lifecycle), policy(60_000), 'store.get', 'k', async () => {
    tries++
    throw loading()
  })
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(tries, 1)
  await lifecycle.close()
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof ClosedError, String(error))
    assert.equal(error.outcome, 'not-applied')
    return true
  })
  assert.equal(tries, 1, 'the retry is not sent once the fleet is closed')
})

test('a finishing step while the fleet drains keeps its backoff between tries (helper-219: all three went at once)', async () => {
  const { lifecycle, drained, closing } = draining()
  const base = 30
  const at: number[] = []
  const result = await runFinishing(
    contextOf(lifecycle),
    policy(base),
    'tracker.release',
    'job',
    async () => {
      at.push(performance.now())
      if (at.length < 3) throw loading()
      return 'released'
    },
  )
  assert.equal(result, 'released')
  // Timers never fire early: the gaps are at least the backoff (base, then base × factor).
  assert.ok(at[1]! - at[0]! >= base - 1, `first backoff ${at[1]! - at[0]!} ms`)
  assert.ok(at[2]! - at[1]! >= 2 * base - 1, `second backoff ${at[2]! - at[1]!} ms`)
  drained()
  await closing
})

test('a finishing step still waiting out its backoff when the drain ends rejects with ClosedError then (helper-221)', async () => {
  const { lifecycle, drained, closing } = draining()
  let tries = 0
  const step = runFinishing(contextOf(lifecycle), policy(60_000), 'tracker.release', 'job', async () => {
    tries++
    throw loading()
  })
  await new Promise((resolve) => setImmediate(resolve))
  drained()
  await closing
  // Far below the minute of its backoff.
  const error = await settledWithin(step, 10_000)
  assert.ok(error instanceof ClosedError, `a ClosedError, got ${String(error)}`)
  assert.equal(tries, 1, 'its retry is not sent once the connections close')
})
