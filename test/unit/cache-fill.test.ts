/**
 * The fill mechanisms on fakes: single-flight, and the fleet-wide fill lock (re-read after
 * taking it, waiting, riding out faults, giving up at the deadline, close).
 */
import assert from 'node:assert/strict'
import { mock, test } from 'node:test'
import {
  type FillWaker,
  type Found,
  fillWithLock,
  type LockedFill,
  SingleFlight,
} from '../../src/cache/fill.ts'
import { ClosedError, CommandError, ConnectionError, isTransient } from '../../src/errors.ts'

const joinedBy = (value: string) => `${value} (joined)`
const never = () => false

test('SingleFlight: concurrent runs of one key share one call, joiners get its result shared; other keys and later runs do not', async () => {
  const flights = new SingleFlight()
  let calls = 0
  let release!: (value: string) => void
  const gate = new Promise<string>((resolve) => (release = resolve))
  const run = () =>
    flights.run(
      'k',
      () => {
        calls++
        return gate
      },
      joinedBy,
      never,
    )
  const joined = [run(), run(), run()]
  const other = flights.run('other', async () => 'own', joinedBy, never)
  assert.equal(calls, 1)
  release('shared')
  assert.deepEqual(await Promise.all(joined), ['shared', 'shared (joined)', 'shared (joined)'])
  assert.equal(await other, 'own')
  assert.equal(
    await flights.run('k', async () => 'fresh', joinedBy, never),
    'fresh',
    'a settled flight is forgotten',
  )
})

test('SingleFlight: a failed flight is shared by its joiners and then forgotten', async () => {
  const flights = new SingleFlight()
  const failing = flights.run(
    'k',
    async () => {
      throw new Error('boom')
    },
    joinedBy,
    never,
  )
  const joined = flights.run('k', async () => 'not run', joinedBy, never)
  await assert.rejects(failing, /boom/)
  await assert.rejects(joined, /boom/)
  assert.equal(await flights.run('k', async () => 'again', joinedBy, never), 'again')
})

test('SingleFlight: a superseded flight is not joined; the next caller starts its own, which later callers join', async () => {
  const flights = new SingleFlight()
  let superseded = false
  let release!: (value: string) => void
  const first = flights.run(
    'k',
    () => new Promise<string>((resolve) => (release = resolve)),
    joinedBy,
    () => superseded,
  )
  superseded = true
  const second = flights.run('k', async () => 'second', joinedBy, never)
  const third = flights.run('k', async () => 'not run', joinedBy, never)
  release('first')
  assert.deepEqual(await Promise.all([first, second, third]), ['first', 'second', 'second (joined)'])
})

/** A waker whose waits end when the test says so (or at once), counting them and their attempts. */
function manualWaker(): FillWaker & {
  waits: number
  attempts: number[]
  closed: number
  wake(): void
  notified: string[]
} {
  let wake: () => void = () => {}
  const waker = {
    waits: 0,
    attempts: [] as number[],
    closed: 0,
    notified: [] as string[],
    wake: () => wake(),
    watch: () => ({
      wait: (_ms: number, attempt: number, signal: AbortSignal) => {
        waker.waits++
        waker.attempts.push(attempt)
        if (signal.aborted) return Promise.reject(signal.reason)
        return new Promise<void>((resolve, reject) => {
          wake = resolve
          signal.addEventListener('abort', () => reject(signal.reason), { once: true })
        })
      },
      close() {
        waker.closed++
      },
    }),
    async notify(key: string) {
      waker.notified.push(key)
    },
  }
  return waker
}

/** A fill-lock scenario on fakes; `o` overrides any part. */
function scenario<T>(o: Partial<LockedFill<T>> & { fill: () => Promise<T> }): LockedFill<T> {
  return {
    lock: async () => true,
    unlock: async () => {},
    key: 'k',
    timeout: 1000,
    waker: manualWaker(),
    signal: new AbortController().signal,
    recheck: async () => undefined,
    report: (error) => {
      throw error
    },
    transient: (error) => error instanceof ConnectionError || isTransient(error),
    closed: (reason) => reason,
    ...o,
  }
}

test('fillWithLock: the holder computes, releases the lock with its own token and wakes the waiters', async () => {
  const waker = manualWaker()
  const tokens: string[] = []
  const value = await fillWithLock(
    scenario({
      lock: async (token) => {
        tokens.push(token)
        return true
      },
      unlock: async (token) => void tokens.push(token),
      waker,
      fill: async () => 'computed',
    }),
  )
  assert.equal(value, 'computed')
  assert.equal(tokens.length, 2)
  assert.equal(tokens[0], tokens[1], 'unlocked with the token it locked with')
  assert.deepEqual(waker.notified, ['k'])
})

test('fillWithLock: after taking the lock it reads again, and returns what another process stored meanwhile', async () => {
  let fills = 0
  const value = await fillWithLock(
    scenario<string>({
      // Another process filled the entry between our miss and our lock.
      recheck: async () => ({ value: 'theirs' }),
      fill: async () => {
        fills++
        return 'ours'
      },
    }),
  )
  assert.equal(value, 'theirs')
  assert.equal(fills, 0, 'computed exactly once across the fleet')
})

test('fillWithLock: a waiter returns the holder’s value once it is there, without computing', async () => {
  const waker = manualWaker()
  let stored: Found<string>
  let fills = 0
  const waiting = fillWithLock(
    scenario<string>({
      lock: async () => false,
      waker,
      recheck: async () => stored,
      fill: async () => {
        fills++
        return 'mine'
      },
    }),
  )
  await until(() => waker.waits === 1)
  stored = { value: 'holder' }
  waker.wake()
  assert.equal(await waiting, 'holder')
  assert.equal(fills, 0)
})

test('fillWithLock: a waiter rides out dropped connections until the holder’s value is there', async () => {
  const waker = manualWaker()
  let attempts = 0
  let stored: Found<string>
  const reported: unknown[] = []
  const waiting = fillWithLock(
    scenario<string>({
      lock: async () => {
        attempts++
        if (attempts === 1) return false // someone holds it
        throw new ConnectionError('fetch: connection lost')
      },
      waker,
      recheck: async () => {
        if (stored === undefined) throw new ConnectionError('fetch: connection lost')
        return stored
      },
      report: (error) => void reported.push(error),
      fill: async () => 'mine',
    }),
  )
  for (let round = 1; round <= 3; round++) {
    await until(() => waker.waits === round)
    waker.wake()
  }
  await until(() => waker.waits === 4)
  stored = { value: 'holder' }
  waker.wake()
  assert.equal(await waiting, 'holder')
  assert.deepEqual(reported, [], 'a fault a waiter rides out is nobody’s failure')
  assert.ok(attempts >= 3)
})

test('fillWithLock: a waiter computes itself once the deadline has passed', async () => {
  let now = 0
  const waker = manualWaker()
  const waiting = fillWithLock(
    scenario<string>({
      lock: async () => false,
      waker,
      timeout: 100,
      now: () => now,
      fill: async () => 'mine',
    }),
  )
  await until(() => waker.waits === 1)
  now = 100
  waker.wake()
  assert.equal(await waiting, 'mine')
})

test('fillWithLock: a step of the wall clock does not end a wait before its deadline (helper-306)', async () => {
  const waker = manualWaker()
  let stored: Found<string>
  const computed: string[] = []
  mock.timers.enable({ apis: ['Date'], now: Date.now() })
  try {
    const waiting = fillWithLock(
      scenario<string>({
        lock: async () => false,
        waker,
        timeout: 60_000,
        recheck: async () => stored,
        fill: async () => {
          computed.push('mine')
          return 'mine'
        },
      }),
    )
    await until(() => waker.waits === 1)
    // NTP steps the clock 10 minutes forward while the holder computes, then its peer wakes us.
    mock.timers.setTime(Date.now() + 600_000)
    waker.wake()
    await until(() => waker.waits === 2 || computed.length > 0)
    assert.deepEqual(computed, [], 'the waiter went on waiting for the holder')
    stored = { value: 'holder' }
    waker.wake()
    assert.equal(await waiting, 'holder')
  } finally {
    mock.timers.reset()
  }
})

test('fillWithLock: when the first lock attempt fails, the failure is reported and the value computed', async () => {
  const reported: unknown[] = []
  const value = await fillWithLock(
    scenario<string>({
      lock: async () => {
        throw new ConnectionError('fetch: down')
      },
      report: (error) => void reported.push(error),
      fill: async () => 'computed',
    }),
  )
  assert.equal(value, 'computed')
  assert.equal(reported.length, 1)
})

test('fillWithLock: a command error while waiting is reported (it does not pass by itself)', async () => {
  const waker = manualWaker()
  const waiting = fillWithLock(
    scenario<string>({
      lock: async () => false,
      waker,
      recheck: async () => {
        throw new CommandError('fetch: WRONGTYPE')
      },
      fill: async () => 'mine',
    }),
  )
  await until(() => waker.waits === 1)
  waker.wake()
  await assert.rejects(waiting, CommandError)
})

test('fillWithLock: close ends a waiting fill with ClosedError', async () => {
  const controller = new AbortController()
  const waker = manualWaker()
  const waiting = fillWithLock(
    scenario<string>({ lock: async () => false, waker, signal: controller.signal, fill: async () => 'mine' }),
  )
  await until(() => waker.waits === 1)
  controller.abort(new ClosedError('the fleet is closed'))
  await assert.rejects(waiting, ClosedError)
})

test('fillWithLock: each wait is told its attempt (1, 2, 3 …, for polling backoff); the watch is closed at the end', async () => {
  const waker = manualWaker()
  let stored: Found<string>
  const waiting = fillWithLock(
    scenario<string>({
      lock: async () => false,
      waker,
      recheck: async () => stored,
      fill: async () => 'mine',
    }),
  )
  for (let round = 1; round <= 2; round++) {
    await until(() => waker.waits === round)
    waker.wake()
  }
  await until(() => waker.waits === 3)
  stored = { value: 'holder' }
  waker.wake()
  assert.equal(await waiting, 'holder')
  assert.deepEqual(waker.attempts, [1, 2, 3])
  assert.equal(waker.closed, 1)
})

test('fillWithLock: a waiter whose lock attempt fails once the deadline is reached reports it and computes', async () => {
  let now = 0
  const waker = manualWaker()
  const lost = new ConnectionError('fetch: connection lost')
  let attempts = 0
  const reported: unknown[] = []
  const waiting = fillWithLock(
    scenario<string>({
      lock: async () => {
        if (++attempts === 1) return false
        throw lost
      },
      waker,
      timeout: 100,
      now: () => now,
      report: (error) => void reported.push(error),
      fill: async () => 'mine',
    }),
  )
  await until(() => waker.waits === 1)
  now = 100
  waker.wake()
  assert.equal(await waiting, 'mine')
  assert.deepEqual(reported, [lost], 'the failure that ended the wait is reported')
  assert.equal(waker.closed, 1)
})

test('fillWithLock: the holder reports a failed re-read, computes, and still releases and wakes', async () => {
  const waker = manualWaker()
  const failure = new ConnectionError('fetch: connection lost')
  const reported: unknown[] = []
  let unlocked = 0
  const value = await fillWithLock(
    scenario<string>({
      recheck: async () => {
        throw failure
      },
      unlock: async () => void unlocked++,
      waker,
      report: (error) => void reported.push(error),
      fill: async () => 'computed',
    }),
  )
  assert.equal(value, 'computed')
  assert.deepEqual(reported, [failure])
  assert.equal(unlocked, 1)
  assert.deepEqual(waker.notified, ['k'])
})

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve))
}
