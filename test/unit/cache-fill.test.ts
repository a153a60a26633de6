/**
 * The fill mechanisms on fakes: single-flight, and the fleet-wide fill lock (re-read after
 * taking it, waiting, riding out faults, giving up at the deadline, close).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  type FillWaker,
  type Found,
  fillWithLock,
  type LockedFill,
  SingleFlight,
} from '../../src/cache/fill.ts'
import { ClosedError, CommandError, ConnectionError, isTransient } from '../../src/errors.ts'

test('SingleFlight: concurrent runs of one key share one call; other keys and later runs do not', async () => {
  const flights = new SingleFlight()
  let calls = 0
  let release!: (value: string) => void
  const gate = new Promise<string>((resolve) => (release = resolve))
  const run = () =>
    flights.run('k', () => {
      calls++
      return gate
    })
  const joined = [run(), run(), run()]
  const other = flights.run('other', async () => 'own')
  assert.equal(calls, 1)
  release('shared')
  assert.deepEqual(await Promise.all(joined), ['shared', 'shared', 'shared'])
  assert.equal(await other, 'own')
  assert.equal(await flights.run('k', async () => 'fresh'), 'fresh', 'a settled flight is forgotten')
})

test('SingleFlight: a failed flight is shared by its joiners and then forgotten', async () => {
  const flights = new SingleFlight()
  const failing = flights.run('k', async () => {
    throw new Error('boom')
  })
  const joined = flights.run('k', async () => 'not run')
  await assert.rejects(failing, /boom/)
  await assert.rejects(joined, /boom/)
  assert.equal(await flights.run('k', async () => 'again'), 'again')
})

/** A waker whose waits end when the test says so (or at once), counting them. */
function manualWaker(): FillWaker & { waits: number; wake(): void; notified: string[] } {
  let wake: () => void = () => {}
  const waker = {
    waits: 0,
    notified: [] as string[],
    wake: () => wake(),
    watch: () => ({
      wait: (_ms: number, _attempt: number, signal: AbortSignal) => {
        waker.waits++
        if (signal.aborted) return Promise.reject(signal.reason)
        return new Promise<void>((resolve, reject) => {
          wake = resolve
          signal.addEventListener('abort', () => reject(signal.reason), { once: true })
        })
      },
      close() {},
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

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve))
}
