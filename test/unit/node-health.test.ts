/**
 * A node's health from its connections' events (src/topology/health.ts), on fake connections:
 * what takes a node down, and what must not.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { NodeHealth, watchConnection, watchDedicated } from '../../src/topology/health.ts'

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
