/**
 * A write after the server closed the connection (its FIN): Node fails it with EPIPE and the
 * words "This socket has been ended by the other party", and node-redis 5 hands that error on as
 * it is. It was neither a redfleet error nor retried: calls rejected with a bare Error, and
 * `consume` loops ended on it (helper-296, behind a proxy that closes connections as a load
 * balancer does). It is a lost connection, whose command may have been applied.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConnectionError, isTransient, isTransientFailure, translateError } from '../../src/errors.ts'
import { isPassing } from '../../src/loops.ts'

/** What Node's socket emits for a write after the other side ended the connection. */
const afterFin = () =>
  Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' })
/** A lost socket named by its code alone. */
const byCode = (code: string) => Object.assign(new Error('write failed'), { code })

test('a write after the server ended the connection is a lost connection: retried, ridden out, outcome unknown', () => {
  for (const raw of [afterFin(), byCode('EPIPE'), byCode('ECONNRESET')]) {
    const error = translateError(raw, 'store.get', 'k')
    assert.ok(error instanceof ConnectionError, `${raw.message}: ${error}`)
    assert.equal(error.outcome, 'unknown')
    assert.match(error.message, /^store\.get 'k' failed: Redis is unreachable/)
    assert.ok(isTransient(error) && isPassing(error), 'loops ride it out')
    assert.ok(isTransientFailure(raw), 'retry() tries again')
  }
})

test('a socket that could not connect is a lost connection Redis did not see', () => {
  const error = translateError(byCode('ECONNREFUSED'), 'store.set', 'k')
  assert.ok(error instanceof ConnectionError)
  assert.ok(isTransientFailure(byCode('ECONNREFUSED')))
})
