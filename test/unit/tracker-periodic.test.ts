/**
 * The tracker's periodic loop (heartbeat, recovery pass) on a mocked clock: its cadence, the
 * backoff after a failure (never longer than the interval), one report per outage, and stop().
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import { ClosedError, ConnectionError } from '../../src/errors.ts'
import { PeriodicLoop } from '../../src/tracker/periodic.ts'

/** Lets the step's promise chain settle (the clock is mocked, the microtasks are not). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

/** A loop whose steps succeed or fail as `outcomes` says (then succeed), counting them. */
function loop(interval: number, outcomes: (Error | undefined)[] = []) {
  const state = { steps: 0, reports: [] as unknown[] }
  const periodic = new PeriodicLoop(
    interval,
    async () => {
      state.steps++
      const failure = outcomes.shift()
      if (failure) throw failure
    },
    (error) => void state.reports.push(error),
  )
  return { periodic, state }
}

/** Moves the clock by `ms` and lets the steps that came due settle. */
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms)
  await settle()
}

// The mocked clock is scoped to this suite: other files may share the process (npm run mutate).
describe('PeriodicLoop', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }))
  afterEach(() => mock.timers.reset())

  test('the first step runs after the given delay (the interval by default), then one per interval', async () => {
    const { periodic, state } = loop(1000)
    periodic.start()
    await tick(999)
    assert.equal(state.steps, 0)
    await tick(1)
    assert.equal(state.steps, 1)
    await tick(1000)
    assert.equal(state.steps, 2)
    await periodic.stop()

    const early = loop(1000)
    early.periodic.start(0)
    await tick(0)
    assert.equal(early.state.steps, 1, 'start(0) runs a step at once')
    await early.periodic.stop()
  })

  test('a failed step is retried with backoff, well before the interval, and reported once per outage', async () => {
    const lost = new ConnectionError('connection lost')
    const { periodic, state } = loop(10_000, [lost, lost, undefined, lost])
    periodic.start(0)
    await tick(0)
    assert.equal(state.steps, 1)
    // The first retry comes within 50 ms (DEFAULT_RETRY's first delay), the second within 100.
    await tick(50)
    assert.equal(state.steps, 2)
    await tick(100)
    assert.equal(state.steps, 3)
    assert.deepEqual(state.reports, [lost], 'the same outage is reported once')
    // Step 3 succeeded: back to the interval, and the next outage is reported again.
    await tick(9_999)
    assert.equal(state.steps, 3)
    await tick(1)
    assert.equal(state.steps, 4)
    assert.equal(state.reports.length, 2)
    await periodic.stop()
  })

  test('the backoff never waits longer than the interval', async () => {
    const lost = new ConnectionError('connection lost')
    const { periodic, state } = loop(
      20,
      Array.from({ length: 8 }, () => lost),
    )
    periodic.start(0)
    await tick(0)
    for (let step = 2; step <= 8; step++) {
      await tick(20)
      assert.equal(state.steps, step)
    }
    await periodic.stop()
  })

  test('a ClosedError is not an outage: no report, no backoff', async () => {
    const { periodic, state } = loop(1000, [new ClosedError('closed')])
    periodic.start(0)
    await tick(0)
    await tick(999)
    assert.equal(state.steps, 1, 'the next step waits a whole interval')
    await tick(1)
    assert.equal(state.steps, 2)
    assert.deepEqual(state.reports, [])
    await periodic.stop()
  })

  test('stop: no further step, and it waits for the step in progress', async () => {
    let finish!: () => void
    let steps = 0
    const periodic = new PeriodicLoop(
      100,
      () => {
        steps++
        return new Promise<void>((resolve) => (finish = resolve))
      },
      () => {},
    )
    periodic.start(0)
    await tick(0)
    assert.equal(steps, 1)
    let stopped = false
    const stopping = periodic.stop().then(() => (stopped = true))
    await settle()
    assert.equal(stopped, false, 'the step in progress has not settled')
    finish()
    await stopping
    await tick(1000)
    assert.equal(steps, 1, 'nothing ran after stop')

    const idle = loop(100)
    idle.periodic.start()
    await idle.periodic.stop()
    await tick(1000)
    assert.equal(idle.state.steps, 0, 'a stop before the first step cancels it')
  })
})
