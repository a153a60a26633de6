import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isTransient, translateError } from '../../src/errors.ts'
import {
  CommandError,
  ConfigError,
  ConnectionError,
  createFleet,
  retry,
  TimeoutError,
} from '../../src/index.ts'
import { backoffDelay, DEFAULT_RETRY, type RetryClock } from '../../src/retry.ts'

/** A clock that records the delays it was asked for and never waits. */
function fakeClock(random = 0.5): RetryClock & { delays: number[] } {
  const delays: number[] = []
  return { delays, sleep: async (ms) => void delays.push(ms), random: () => random }
}

test('transient failures are retried with exponential backoff, then succeed', async () => {
  const clock = fakeClock(1)
  let calls = 0
  const result = await retry(
    async () => {
      if (++calls < 3) throw new ConnectionError('down')
      return 'ok'
    },
    { attempts: 3, base: 10, factor: 3, clock },
  )
  assert.equal(result, 'ok')
  assert.equal(calls, 3)
  assert.deepEqual(clock.delays, [10, 30])
})

test('after the last attempt onError is called once and the original error is rethrown', async () => {
  const seen: unknown[] = []
  const error = new TimeoutError('slow')
  await assert.rejects(
    retry(
      async () => {
        throw error
      },
      { attempts: 4, clock: fakeClock(), onError: (e) => seen.push(e) },
    ),
    (e) => e === error,
  )
  assert.deepEqual(seen, [error])
})

test('command errors are not retried and a throwing onError is ignored', async () => {
  let calls = 0
  const error = new CommandError('WRONGTYPE', {
    cause: Object.assign(new Error('WRONGTYPE x'), { name: 'ReplyError' }),
  })
  await assert.rejects(
    retry(
      async () => {
        calls++
        throw error
      },
      {
        clock: fakeClock(),
        onError: () => {
          throw new Error('handler bug')
        },
      },
    ),
    (e) => e === error,
  )
  assert.equal(calls, 1)
})

test('LOADING and BUSY replies are transient', async () => {
  let calls = 0
  await retry(
    async () => {
      if (++calls === 1)
        throw new CommandError('x', { cause: new Error('LOADING Redis is loading the dataset') })
      if (calls === 2)
        throw new CommandError('x', { cause: new Error('BUSY Redis is busy running a script') })
    },
    { clock: fakeClock() },
  )
  assert.equal(calls, 3)
})

test('delays are capped by max and jitter spreads them within [1 - jitter, 1] of the full delay', () => {
  const policy = { ...DEFAULT_RETRY, base: 100, factor: 10, max: 500, jitter: 0.5 }
  assert.equal(
    backoffDelay(1, policy, () => 1),
    100,
  )
  assert.equal(
    backoffDelay(1, policy, () => 0),
    50,
  )
  assert.equal(
    backoffDelay(3, policy, () => 1),
    500,
  )
  assert.equal(
    backoffDelay(3, { ...policy, jitter: 0 }, () => 0),
    500,
  )
})

test('a failure that never passes is tried exactly `attempts` times, then reported once', async () => {
  const clock = fakeClock()
  const seen: unknown[] = []
  let calls = 0
  await assert.rejects(
    retry(
      async () => {
        calls++
        throw new ConnectionError('down')
      },
      { attempts: 4, base: 1, clock, onError: (e) => void seen.push(e) },
    ),
    ConnectionError,
  )
  assert.equal(calls, 4)
  assert.equal(clock.delays.length, 3)
  assert.equal(seen.length, 1)
})

/** A Redis error reply as a client throws it (ioredis' and node-redis' ReplyError). */
function replyError(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' })
}

/** How ioredis' Cluster words a command that met MOVED/ASK/TRYAGAIN/CLUSTERDOWN too many times. */
const CLUSTER_GAVE_UP = 'Too many Cluster redirections. Last error: ReplyError: '

test("ioredis' Cluster giving up on CLUSTERDOWN is a transient CommandError naming the reply", () => {
  const storm = new Error(`${CLUSTER_GAVE_UP}CLUSTERDOWN The cluster is down`)
  const error = translateError(storm, 'store.set', 'k')
  assert.ok(error instanceof CommandError, String(error))
  assert.match(error.message, /^store\.set 'k' failed: CLUSTERDOWN The cluster is down/)
  assert.equal(error.cause, storm)
  assert.ok(isTransient(error))
  const moved = translateError(new Error(`${CLUSTER_GAVE_UP}MOVED 1 127.0.0.1:7000`), 'store.get', 'k')
  assert.ok(moved instanceof CommandError, String(moved))
  assert.ok(isTransient(moved), 'a redirection storm is transient too (SPEC §8)')
})

test("a client's own transient errors are retried, and the caller gets its own error back", async () => {
  const transient = [
    ...['LOADING', 'BUSY', 'UNBLOCKED', 'READONLY', 'TRYAGAIN'].map((word) =>
      replyError(`${word} try later`),
    ),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    new Error('Command timed out'),
    new Error(`${CLUSTER_GAVE_UP}CLUSTERDOWN The cluster is down`),
  ]
  for (const error of transient) {
    let calls = 0
    const thrown = await retry(
      async () => {
        calls++
        throw error
      },
      { clock: fakeClock() },
    ).catch((e: unknown) => e)
    assert.equal(thrown, error, 'rethrown as it was, not translated')
    assert.equal(calls, DEFAULT_RETRY.attempts, error.message)
  }
  for (const error of [
    replyError('WRONGTYPE Operation against a key'),
    new Error('a bug'),
    new TypeError('x'),
  ]) {
    let calls = 0
    await retry(
      async () => {
        calls++
        throw error
      },
      { clock: fakeClock() },
    ).catch(() => {})
    assert.equal(calls, 1, `not retried: ${error.message}`)
  }
})

test('bad retry options reject with ConfigError naming the option; fn never runs', async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ attempts: 0 }, 'ERR_INVALID_OPTION', /attempts must be an integer of at least 1/],
    [{ jitter: 2 }, 'ERR_INVALID_OPTION', /jitter must be a number from 0 to 1/],
    [{ atempts: 2 }, 'ERR_UNKNOWN_OPTION', /"atempts" \(did you mean "attempts"\?\)/],
    [{ onError: 'log' }, 'ERR_INVALID_OPTION', /onError must be a function/],
  ]
  for (const [options, code, message] of cases) {
    let ran = false
    const pending = retry(async () => {
      ran = true
    }, options as never)
    await assert.rejects(pending, (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(error.code, code)
      assert.match(error.message, message)
      return true
    })
    assert.equal(ran, false)
  }
})

test("a delay past a Node timer's longest (2^31 - 1 ms) is a ConfigError, for the fleet and for retry()", async () => {
  for (const retryOptions of [{ max: 1e12 }, { base: 3e9 }]) {
    assert.throws(() => createFleet({ memory: true, retry: retryOptions }), { code: 'ERR_INVALID_OPTION' })
    await assert.rejects(
      retry(async () => 1, retryOptions),
      { code: 'ERR_INVALID_OPTION' },
    )
  }
  const fleet = createFleet({ memory: true, retry: { base: 2 ** 31 - 1, max: 2 ** 31 - 1 } })
  await fleet.close()
})

test('whether to retry is asked again after the backoff: a failure no longer retryable then is not sent again', async () => {
  const { retryAfter } = await import('../../src/retry.ts')
  let stillWanted = true
  let sent = 0
  const clock: RetryClock = {
    sleep: async () => {
      // A later call overtook it while it waited (KeyOrder): its retry would undo that call.
      stillWanted = false
    },
    random: () => 1,
  }
  const first = new Error('timed out')
  await assert.rejects(
    retryAfter(
      first,
      async () => {
        sent++
      },
      { ...DEFAULT_RETRY, attempts: 3 },
      undefined,
      { translate: (e) => e, retryable: () => stillWanted },
      clock,
    ),
    (error: unknown) => error === first,
  )
  assert.equal(sent, 0)
})
