/**
 * A node's health from its connections' events (src/topology/health.ts), on fake connections:
 * what takes a node down, and what must not.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mock, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { NodeHealth, PROBE_INTERVAL, watchConnection, watchDedicated } from '../../src/topology/health.ts'

/** A connection as watchConnection sees one: events, a status, a retry strategy. */
class FakeConnection extends EventEmitter {
  status = 'connecting'
  readonly options = { retryStrategy: () => 50 }

  ready(): void {
    this.status = 'ready'
    this.emit('ready')
  }

  /** A lost connection, or an attempt that failed with `error`. */
  close(error?: Error): void {
    this.status = 'reconnecting'
    if (error) this.emit('error', error)
    this.emit('close')
  }
}

function watched() {
  const announced: string[] = []
  const health = new NodeHealth('127.0.0.1:1', (error) => void announced.push(String(error)))
  const command = new FakeConnection()
  const blocking = new FakeConnection()
  const another = new FakeConnection()
  watchConnection(command, health, 1, false)
  watchDedicated(blocking, health, 1)
  watchDedicated(another, health, 1)
  return { health, announced, command, blocking, another }
}

test('a node goes down after reconnectAttempts + 1 failures in a row, announced once', () => {
  const { health, announced, command, blocking } = watched()
  command.ready()
  blocking.ready()
  command.close() // lost
  blocking.close() // a dedicated connection's loss does not count
  assert.equal(health.down, false)
  command.close(new Error('connect ECONNREFUSED'))
  assert.equal(health.down, true)
  blocking.close(new Error('connect ECONNREFUSED'))
  assert.equal(announced.length, 1)
})

test('attempts in flight through a restart do not take the node down again once it is back', () => {
  const { health, announced, command, blocking, another } = watched()
  command.ready()
  blocking.ready()
  another.ready()
  command.close()
  command.close(new Error('connect ECONNREFUSED'))
  blocking.close()
  another.close()
  blocking.close(new Error('connect ECONNREFUSED'))
  assert.equal(health.down, true)
  command.ready() // back
  assert.equal(health.down, false)
  // Two blocking connections' attempts begun before the restart end now: they say nothing of
  // the node now (counted, the two would take it down again: seen with node-redis).
  blocking.close(new Error('connect ECONNREFUSED'))
  another.close(new Error('connect ECONNREFUSED'))
  assert.equal(health.down, false, 'stale attempts do not count')
  assert.equal(announced.length, 1)
  blocking.close(new Error('connect ECONNREFUSED'))
  command.close(new Error('connect ECONNREFUSED'))
  assert.equal(health.down, true, 'failures after the node was back still count')
  assert.equal(announced.length, 2)
})

test('a step of the wall clock back does not hold off the probes of a down node', async () => {
  const health = new NodeHealth('127.0.0.1:1', () => {})
  mock.timers.enable({ apis: ['Date'], now: Date.now() })
  try {
    assert.equal(health.probeDue(), true)
    assert.equal(health.probeDue(), false, 'one probe per interval')
    // NTP steps the clock 10 minutes back; the reconnect interval passes on the process' clock.
    mock.timers.setTime(Date.now() - 600_000)
    await sleep(PROBE_INTERVAL + 10)
    assert.equal(health.probeDue(), true)
  } finally {
    mock.timers.reset()
  }
})
