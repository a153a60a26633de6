import assert from 'node:assert/strict'
import { test } from 'node:test'
import { addAsRedis } from '../../src/store/decimal.ts'

// Each expectation is what `INCRBYFLOAT` stored on Redis 7.0 for the same counter and step.
test('fractional steps store what INCRBYFLOAT stores', () => {
  assert.equal(addAsRedis('0.001', 1), '1.001')
  assert.equal(addAsRedis('1.001', 3), '4.001') // a double sum gives 4.0009999999999994
  assert.equal(addAsRedis('0.1', 0.2), '0.3')
  assert.equal(addAsRedis('1e5', 0.25), '100000.25')
  assert.equal(addAsRedis('.5', 1e-7), '0.5000001')
  assert.equal(addAsRedis('-1.25', -3.75), '-5')
})

test('sums print without trailing zeros, without a point when whole, never as -0', () => {
  assert.equal(addAsRedis('0.5', 0.5), '1')
  assert.equal(addAsRedis('-0.5', 0.5), '0')
  assert.equal(addAsRedis('1e-20', 1), '1')
  assert.equal(addAsRedis('-1e-20', 0), '0')
})

test('a counter that is not a number is refused', () => {
  assert.equal(addAsRedis('abc', 1), undefined)
  assert.equal(addAsRedis('', 1), undefined)
  assert.equal(addAsRedis('.', 1), undefined)
})
