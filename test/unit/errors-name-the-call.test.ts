/**
 * Every failure a call rejects with names the call (translateError), also those made where the
 * call's connections or parts were followed, which know no operation: a pipeline's node lost or
 * silent, a multi-node call's parts gathered (partlyApplied), a command never sent.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  ClosedError,
  ConnectionError,
  isAnnounced,
  MissingClientError,
  NodeDownError,
  notACluster,
  partlyApplied,
  TimeoutError,
  translateError,
  UNSENT,
} from '../../src/errors.ts'

test('a lost or silent node, made without the operation, is told naming the call, its class and outcome kept', () => {
  const cause = new Error('Connection is closed.')
  const lost = new ConnectionError('Redis at 127.0.0.1:7001 is unreachable (Connection is closed.)', {
    cause,
    outcome: 'unknown',
  })
  const named = translateError(lost, 'cache.writeMulti')
  assert.ok(named instanceof ConnectionError && !(named instanceof NodeDownError))
  assert.equal(named.message, `cache.writeMulti failed: ${lost.message}`)
  assert.equal(named.outcome, 'unknown')
  assert.equal(named.cause, cause)

  const silent = new TimeoutError('a pipeline of 3 commands to 127.0.0.1:7001 got no answer', {
    outcome: 'not-applied',
  })
  const timedOut = translateError(silent, 'store.getMany')
  assert.ok(timedOut instanceof TimeoutError)
  assert.match(timedOut.message, /^store\.getMany failed: a pipeline of 3 commands/)
  assert.equal(timedOut.outcome, 'not-applied')
})

test('a multi-node call one part of which was never sent names the call too', () => {
  const part = partlyApplied(new Error(`${UNSENT} to Redis at 127.0.0.1:7002, which is unreachable`))
  const named = translateError(part, 'cache.deleteMulti')
  assert.ok(named instanceof ConnectionError)
  assert.match(named.message, /^cache\.deleteMulti failed: Connection is closed before the command was sent/)
  assert.equal(named.outcome, 'unknown')
})

test('a command never sent is not-applied and said once, not as "Redis is unreachable (…)"', () => {
  const raw = new Error(`${UNSENT} to Redis at 127.0.0.1:7003, which is unreachable (connection refused)`)
  const error = translateError(raw, 'store.increment', 'n')
  assert.ok(error instanceof ConnectionError)
  assert.equal(error.outcome, 'not-applied')
  assert.equal(error.message, `store.increment 'n' failed: ${raw.message}`)
})

test('a command never sent is not-applied when the reason it quotes mentions a timeout', () => {
  // helper-304: a cluster master loading its data; "connectTimeout" made it a TimeoutError, 'unknown'.
  const raw = new Error(
    `${UNSENT} to Redis at 127.0.0.1:7004, which is unreachable (the handshake did not finish within connectTimeout (1000 ms): the server answered part of it (is it loading its data?))`,
  )
  const error = translateError(raw, 'membership.send', 'a')
  assert.ok(error instanceof ConnectionError)
  assert.equal(error.outcome, 'not-applied')
  assert.equal(error.message, `membership.send 'a' failed: ${raw.message}`)
})

test('an error that names the call already, or has no outcome to keep, is left as it is', () => {
  const named = new ConnectionError("store.get 'k' failed: Redis is unreachable (ECONNRESET)")
  assert.equal(translateError(named, 'store.get', 'k'), named)
  const closed = new ClosedError("store.get 'k': the fleet is closed")
  assert.equal(translateError(closed, 'store.get', 'k'), closed)
})

test('a failure that names the call below the caller’s keeps its words; one already announced stays announced', () => {
  const below = new TimeoutError("store.increment 'k' failed: a pipeline of 1 command got no answer", {
    outcome: 'unknown',
  })
  assert.equal(translateError(below, 'cache.fetch', 'k'), below)
  for (const inner of ["store.increment 'it's' timed out: x", "cache.set (unlessExist) 'k' failed: x"]) {
    const named = new ConnectionError(inner)
    assert.equal(translateError(named, 'cache.fetch', 'k'), named, inner)
  }
  const down = new NodeDownError('membership.live failed: command not sent: Redis at h:1 is down', 'h:1')
  assert.equal(translateError(down, 'dashboard read'), down)
  const frozen = Object.assign(new TimeoutError('XREADGROUP of 127.0.0.1:7001 got no reply'), {
    announced: true,
  })
  const named = translateError(frozen, 'streams.consume', 'g')
  assert.ok(named instanceof TimeoutError)
  assert.match(named.message, /^streams\.consume 'g' failed: XREADGROUP/)
  assert.ok(isAnnounced(named), 'one warning per node state: the loop’s error was said already')
})

test('a setting that fails every part of a multi-node call is said as it is, not as a lost connection', () => {
  const refused = notACluster('cluster: true, but Redis at h:1 is not a Redis Cluster')
  assert.equal(partlyApplied(refused), refused)
  assert.equal(refused.outcome, 'not-applied')
  const missing = new MissingClientError()
  assert.equal(partlyApplied(missing), missing)
})
