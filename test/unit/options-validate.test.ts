import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, InvalidArgumentError } from '../../src/errors.ts'
import { assertKey as keyspaceAssertKey } from '../../src/keyspace.ts'
import {
  assertKey,
  assertName,
  assertTtl,
  checkOptions,
  describeValue,
  nearestName,
  numberOption,
  positiveInteger,
} from '../../src/validate.ts'

/** The coded TypeError `fn` throws. */
function argumentError(fn: () => unknown, code: string): InvalidArgumentError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, String(error))
    assert.ok(error instanceof TypeError)
    assert.equal(error.name, 'TypeError')
    assert.equal(error.code, code)
    return error
  }
  assert.fail('nothing was thrown')
}

test('assertKey: coded TypeErrors naming the operation, never the value; keyspace re-exports it', () => {
  assert.equal(keyspaceAssertKey, assertKey)
  assert.match(
    argumentError(() => assertKey(5, 'store.get'), 'ERR_INVALID_KEY').message,
    /^store\.get: key must be a string, got number$/,
  )
  argumentError(() => assertKey('', 'store.get'), 'ERR_INVALID_KEY')
  const long = argumentError(() => assertKey('é'.repeat(513), 'store.set'), 'ERR_INVALID_KEY')
  assert.match(long.message, /1026 bytes, more than the 1024 allowed/)
  assertKey('é'.repeat(512), 'store.set')
})

test('assertName and assertTtl', () => {
  assert.match(
    argumentError(() => assertName(undefined, 'channel', 'broker.publish'), 'ERR_INVALID_ARGUMENT').message,
    /broker\.publish: channel must be a string, got undefined/,
  )
  argumentError(() => assertName('x'.repeat(1025), 'room', 'presence.publish'), 'ERR_INVALID_ARGUMENT')
  assert.equal(assertTtl(undefined, 'store.set'), undefined)
  assert.equal(assertTtl(5, 'store.set'), 5)
  for (const bad of [0, -1, 1.5, '5', Number.NaN]) {
    assert.match(
      argumentError(() => assertTtl(bad, 'store.set'), 'ERR_INVALID_ARGUMENT').message,
      /store\.set: ttl must be a positive integer of milliseconds, got the/,
    )
  }
})

test('positiveInteger and numberOption throw ConfigError ERR_INVALID_OPTION', () => {
  assert.equal(positiveInteger('batch', undefined, { fallback: 64 }), 64)
  assert.equal(positiveInteger('batch', 0, { zero: true }), 0)
  assert.throws(() => positiveInteger('batch', 0), {
    message: 'batch must be a positive integer, got the number 0',
  })
  assert.throws(() => positiveInteger('batch', undefined), ConfigError)
  assert.throws(() => numberOption({ min: 0, max: 1 })(Number.POSITIVE_INFINITY, 'jitter'), {
    code: 'ERR_INVALID_OPTION',
    message: 'jitter must be a number from 0 to 1, got the number Infinity',
  })
})

test('checkOptions: unknown names with their nearest known name, or the list; non-objects refused', () => {
  const schema = { ttl: numberOption({ min: 1 }), onError: () => {} }
  assert.throws(() => checkOptions({ tll: 5 }, schema, { what: 'membership options' }), {
    code: 'ERR_UNKNOWN_OPTION',
    message: 'unknown option "tll" (did you mean "ttl"?)',
  })
  assert.throws(() => checkOptions('x', schema, { what: 'membership options' }), {
    code: 'ERR_INVALID_OPTION',
    message: 'membership options must be an object, got the string "x"',
  })
  // An own "constructor" or "__proto__"-like name is unknown, not something from Object.prototype.
  assert.throws(() => checkOptions(JSON.parse('{"constructor": 1}'), schema), { code: 'ERR_UNKNOWN_OPTION' })
  checkOptions(undefined, schema)
  checkOptions({ ttl: undefined }, schema)
  assert.equal(nearestName('NAMESPACE', ['namespace', 'url']), 'namespace')
  assert.equal(nearestName('completelyDifferent', ['namespace', 'url']), undefined)
  // A name cut short: a third of the longer name may be mistyped (helper-223).
  assert.equal(nearestName('expirs', ['raw', 'expiresIn', 'expiresAt']), 'expiresIn')
  assert.equal(nearestName('tll', ['raw', 'tags', 'expiresIn']), undefined)
})

test('describeValue says the type, and short scalars themselves', () => {
  assert.equal(describeValue('5000'), 'the string "5000"')
  assert.equal(describeValue('x'.repeat(41)), 'a string of 41 characters')
  assert.equal(describeValue(null), 'null')
  assert.equal(describeValue([1]), 'an array')
  assert.equal(describeValue(new Map()), 'a Map')
  assert.equal(describeValue({}), 'an object')
  assert.equal(describeValue(Object.create(null)), 'an object')
})
