import assert from 'node:assert/strict'
import { test } from 'node:test'
import { StallGuard, stallLimit } from '../../src/cache/stall-guard.ts'

test('StallGuard: awake while ticks come within the limit; after a longer gap, stalled once and not awake', () => {
  let now = 0
  let stalls = 0
  const guard = new StallGuard(() => now)
  now = 5000
  assert.equal(guard.awakeAt() !== undefined, true, 'disarmed: no gap is too long')
  guard.arm(1000, () => stalls++)
  now = 6000
  assert.equal(guard.awakeAt() !== undefined, true)
  now = 6900
  guard.tick()
  now = 7500
  assert.equal(guard.awakeAt() !== undefined, true, 'ticked 600 ms ago')
  now = 8000
  assert.equal(guard.awakeAt(), undefined, 'no tick for 1100 ms')
  assert.equal(stalls, 1)
  assert.equal(guard.awakeAt() !== undefined, true, 'the gap is told once')
  guard.disarm()
  now = 60_000
  assert.equal(guard.awakeAt() !== undefined, true)
  assert.equal(stalls, 1)
})

test('stallLimit: four check intervals, at least 1 s, never past the invalidation bound', () => {
  assert.equal(stallLimit(125, 6000), 1000)
  assert.equal(stallLimit(1000, Number.POSITIVE_INFINITY), 4000)
  // connectTimeout 300, commandTimeout 200: a bound of 700 ms (helper-320).
  assert.equal(stallLimit(50, 700), 700)
})
