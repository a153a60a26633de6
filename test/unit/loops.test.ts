import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ClosedError, CommandError, ConnectionError, NodeDownError, TimeoutError } from '../../src/errors.ts'
import { isPassing, isRedirection, LoopBackoff, QUIET_OUTAGE_LIMIT } from '../../src/loops.ts'
import { sleep } from '../../src/sleep.ts'

const reply = (message: string) => {
  const error = new Error(message)
  error.name = 'ReplyError'
  return new CommandError(`streams.consume 'g' failed: ${message}`, { cause: error })
}

describe('isPassing: what a background loop waits out', () => {
  test('outages, failovers, demotions and resharding pass', () => {
    assert.ok(isPassing(new ConnectionError('lost')))
    assert.ok(isPassing(new TimeoutError('slow')))
    assert.ok(isPassing(reply('UNBLOCKED force unblock from blocking operation, instance state changed')))
    assert.ok(isPassing(reply("READONLY You can't write against a read only replica.")))
    assert.ok(isPassing(reply('LOADING Redis is loading the dataset in memory')))
    assert.ok(isPassing(reply('MOVED 7476 127.0.0.1:7001')))
    assert.ok(isRedirection(new Error('ASK 7476 127.0.0.1:7001')))
  })

  test('a server refusing writes for now passes: out of memory, too few replicas, a failed save', () => {
    assert.ok(isPassing(reply("OOM command not allowed when used memory > 'maxmemory'.")))
    assert.ok(isPassing(reply('NOREPLICAS Not enough good replicas to write.')))
    assert.ok(
      isPassing(
        reply(
          'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
        ),
      ),
    )
  })

  test('what repeating cannot fix, and a closed fleet, end the loop', () => {
    assert.equal(isPassing(reply('WRONGTYPE Operation against a key holding the wrong kind of value')), false)
    assert.equal(isPassing(new ClosedError('streams.consume: the fleet is closed')), false)
    assert.equal(isPassing(new TypeError('bad')), false)
  })
})

describe('LoopBackoff', () => {
  test('reports each distinct failure once per run of failures; a success starts a new run', () => {
    const reports: unknown[] = []
    const backoff = new LoopBackoff((error) => reports.push(error))
    const slow = new TimeoutError('slow')
    backoff.delayAfter(slow)
    backoff.delayAfter(new TimeoutError('slow'))
    backoff.delayAfter(reply('READONLY replica'))
    assert.equal(reports.length, 2)
    backoff.succeeded()
    backoff.delayAfter(slow)
    assert.equal(reports.length, 3)
  })

  test('quietOutages: an outage or a topology change is not reported; a timeout or a command error is', () => {
    const reports: unknown[] = []
    const backoff = new LoopBackoff((error) => reports.push(error), { quietOutages: true })
    backoff.delayAfter(new ConnectionError('lost'))
    backoff.delayAfter(new NodeDownError('Redis at 127.0.0.1:1 is down', '127.0.0.1:1'))
    backoff.delayAfter(reply('CLUSTERDOWN The cluster is down'))
    backoff.delayAfter(reply('UNBLOCKED force unblock from blocking operation, instance state changed'))
    backoff.delayAfter(reply("READONLY You can't write against a read only replica."))
    backoff.delayAfter(reply('MOVED 7476 127.0.0.1:7001'))
    assert.deepEqual(reports, [])
    const slow = new TimeoutError('slow')
    backoff.delayAfter(slow)
    const wrong = reply('WRONGTYPE Operation against a key holding the wrong kind of value')
    backoff.delayAfter(wrong)
    assert.deepEqual(reports, [slow, wrong])
  })

  test('quietOutages: a transient reply that lasts QUIET_OUTAGE_LIMIT is reported once; a lost connection never', () => {
    let now = 0
    const reports: unknown[] = []
    const backoff = new LoopBackoff((error) => reports.push(error), { quietOutages: true, now: () => now })
    const down = reply('CLUSTERDOWN Hash slot not served')
    backoff.delayAfter(down)
    now = QUIET_OUTAGE_LIMIT - 1
    backoff.delayAfter(down)
    assert.deepEqual(reports, [])
    now = QUIET_OUTAGE_LIMIT
    backoff.delayAfter(down)
    backoff.delayAfter(down)
    backoff.delayAfter(new ConnectionError('lost'))
    assert.deepEqual(reports, [down])
    // A success ends the run: the next one is quiet again for the limit.
    backoff.succeeded()
    backoff.delayAfter(down)
    assert.deepEqual(reports, [down])
  })

  test('delays follow the retry curve up to its 2 s cap, and never exceed the cap given', () => {
    const backoff = new LoopBackoff(() => {})
    const delays = Array.from({ length: 12 }, () => backoff.delayAfter(new ConnectionError('lost')))
    assert.ok(delays[0]! >= 25 && delays[0]! <= 50, `first delay ${delays[0]}`)
    assert.ok(delays.every((d) => d <= 2000))
    assert.ok(delays.at(-1)! >= 1000, `last delay ${delays.at(-1)}`)
    assert.ok(backoff.delayAfter(new ConnectionError('lost'), 10) <= 10)
  })

  test('a throwing report does not break the loop', () => {
    const backoff = new LoopBackoff(() => {
      throw new Error('sink down')
    })
    assert.equal(typeof backoff.delayAfter(new ConnectionError('lost')), 'number')
  })
})

describe('sleep', () => {
  test('resolves early, without rejecting, when its signal aborts', async () => {
    const controller = new AbortController()
    const sleeping = sleep(60_000, controller.signal)
    controller.abort()
    await sleeping
    await sleep(60_000, controller.signal)
  })
})
