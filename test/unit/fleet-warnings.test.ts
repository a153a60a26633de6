import assert from 'node:assert/strict'
import { mock, test } from 'node:test'
import { CommandError, ConnectionError, NodeDownError, TimeoutError } from '../../src/errors.ts'
import { failsafe } from '../../src/failsafe.ts'
import { resolveOptions } from '../../src/options.ts'
import { FleetWarnings, REPEAT_WARNING_AFTER } from '../../src/warnings.ts'

/** The RedfleetWarnings `run` emits. */
function emitted(run: () => void): string[] {
  const seen: string[] = []
  const listener = (warning: Error) => void seen.push(warning.message)
  const original = process.emitWarning
  process.emitWarning = ((text: string) => listener(new Error(text))) as typeof process.emitWarning
  try {
    run()
  } finally {
    process.emitWarning = original
  }
  return seen
}

/** A command error whose reply is `reply` (as translateError makes them). */
const replied = (reply: string) => new CommandError(`failed: ${reply}`, { cause: replyError(reply) })

function replyError(reply: string): Error {
  const error = new Error(reply)
  error.name = 'ReplyError'
  return error
}

test('a kind of failure is warned of once a while, not once per call', () => {
  const warnings = new FleetWarnings()
  const seen = emitted(() => {
    for (let i = 0; i < 10; i++)
      warnings.warn('broker.publish', new TimeoutError(`t${i}`), `publish ${i}`, 1000)
    warnings.warn('broker.publish', new ConnectionError('lost'), 'publish lost', 1000)
    warnings.warn('cache.read', new NodeDownError('down', 'n1'), 'announced', 1000)
    warnings.warn('broker.publish', new TimeoutError('t'), 'publish later', 1000 + REPEAT_WARNING_AFTER - 1)
    warnings.warn('broker.publish', new TimeoutError('t'), 'publish again', 1000 + REPEAT_WARNING_AFTER)
  })
  assert.deepEqual(seen, ['publish 0', 'publish lost', 'publish again'])
})

test("a transient failure is one kind whatever the operation; a command error is the operation's own", () => {
  const warnings = new FleetWarnings()
  const seen = emitted(() => {
    // A frozen node: every operation times out.
    warnings.warn('broker.publish', new TimeoutError('t'), 'publish timed out', 1000)
    warnings.warn('cache.read', new TimeoutError('t'), 'read timed out', 1000)
    warnings.warn('tracker.heartbeat', new TimeoutError('t'), 'heartbeat timed out', 1000)
    // A cluster that is down: every operation is refused alike.
    warnings.warn('cache.write', replied('CLUSTERDOWN The cluster is down'), 'write clusterdown', 1000)
    warnings.warn('tracker.track', replied('CLUSTERDOWN The cluster is down'), 'track clusterdown', 1000)
    warnings.warn('cache.write', replied('LOADING Redis is loading'), 'write loading', 1000)
    // Not transient: each operation's own.
    warnings.warn('cache.read', replied('WRONGTYPE Operation against a key'), 'read wrongtype', 1000)
    warnings.warn('cache.increment', replied('WRONGTYPE Operation against a key'), 'incr wrongtype', 1000)
  })
  assert.deepEqual(seen, [
    'publish timed out',
    'write clusterdown',
    'write loading',
    'read wrongtype',
    'incr wrongtype',
  ])
})

test('each fleet has its own: another fleet’s warning does not silence its first', () => {
  const seen = emitted(() => {
    new FleetWarnings().warn('cache.read', new TimeoutError('t'), 'fleet a', 1000)
    new FleetWarnings().warn('cache.read', new TimeoutError('t'), 'fleet b', 1000)
  })
  assert.deepEqual(seen, ['fleet a', 'fleet b'])
})

test('past 256 kinds, forgetting the old ones keeps every new kind warned and one in its quiet time quiet', () => {
  const warnings = new FleetWarnings()
  const seen = emitted(() => {
    for (let i = 0; i < 1000; i++) {
      warnings.warn(`subscribe 'ch${i}'`, replied('NOPERM'), `ch${i}`, i * REPEAT_WARNING_AFTER)
    }
    // A kind still in its quiet time is kept (and stays quiet) whatever came since.
    warnings.warn(`subscribe 'ch999'`, replied('NOPERM'), 'again', 999 * REPEAT_WARNING_AFTER + 1)
  })
  assert.equal(seen.length, 1000)
  assert.ok(!seen.includes('again'))
})

test("a node's down announcement is the warning of the lost connection its calls met", () => {
  const warnings = new FleetWarnings()
  const seen = emitted(() => {
    warnings.announce('connection n1', new ConnectionError('n1 is down'), 'n1 is down', 1000)
    // Calls in flight when the connection dropped, failed after the announcement.
    warnings.warn('tracker.track', new ConnectionError('Connection is closed.'), 'track lost', 1040)
    warnings.warn('cache.write', new ConnectionError('Socket closed unexpectedly'), 'write lost', 2000)
    // Another state, said once: the cluster refusing every command.
    warnings.warn('cache.read', replied('CLUSTERDOWN The cluster is down'), 'read clusterdown', 3000)
    // Each change of a node's state is said.
    warnings.announce('connection n2', new ConnectionError('n2 is down'), 'n2 is down', 4000)
  })
  assert.deepEqual(seen, ['n1 is down', 'read clusterdown', 'n2 is down'])
})

test("a fleet's default onError says a node's change of state through its warnings", () => {
  const { onError } = resolveOptions({ url: 'redis://127.0.0.1:1' })
  const seen = emitted(() => {
    onError(new ConnectionError('Redis at n1 is down'), { op: 'connection n1' })
    onError(new ConnectionError('Connection is closed.'), { op: 'tracker.track' })
  })
  assert.deepEqual(seen, ['redfleet connection n1: Redis at n1 is down'])
})

test('failsafe over an object no fleet made warns of a timeout once, not once per call', async () => {
  const timedOut = { get: () => Promise.reject(new TimeoutError("get 'k' timed out")) }
  const safe = failsafe(timedOut)
  const seen: string[] = []
  const listener = (warning: Error) => void seen.push(`${warning.name}: ${warning.message}`)
  process.on('warning', listener)
  try {
    for (let i = 0; i < 5; i++) assert.equal(await safe.get(), undefined)
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', listener)
  }
  assert.deepEqual(seen, ["RedfleetWarning: redfleet failsafe get: TimeoutError: get 'k' timed out"])
})

test('a step of the wall clock forward does not repeat a warning within its quiet time', () => {
  const warnings = new FleetWarnings()
  mock.timers.enable({ apis: ['Date'], now: Date.now() })
  try {
    const seen = emitted(() => {
      warnings.warn('broker.publish', new TimeoutError('t1'), 'publish timed out')
      // NTP steps the clock past the quiet time; the process' own clock moved microseconds.
      mock.timers.setTime(Date.now() + REPEAT_WARNING_AFTER + 1000)
      warnings.warn('broker.publish', new TimeoutError('t2'), 'publish timed out again')
    })
    assert.deepEqual(seen, ['publish timed out'])
  } finally {
    mock.timers.reset()
  }
})
