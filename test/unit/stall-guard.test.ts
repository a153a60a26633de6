import assert from 'node:assert/strict'
import { test } from 'node:test'
import { StallGuard } from '../../src/cache/stall-guard.ts'

test('StallGuard: awake while ticks come within the limit; after a longer gap, stalled once and not awake', () => {
  let now = 0
  let stalls = 0
  const guard = new StallGuard(() => now)
  now = 5000
  assert.equal(guard.awake(), true, 'disarmed: no gap is too long')
  guard.arm(1000, () => stalls++)
  now = 6000
  assert.equal(guard.awake(), true)
  now = 6900
  guard.tick()
  now = 7500
  assert.equal(guard.awake(), true, 'ticked 600 ms ago')
  now = 8000
  assert.equal(guard.awake(), false, 'no tick for 1100 ms')
  assert.equal(stalls, 1)
  assert.equal(guard.awake(), true, 'the gap is told once')
  guard.disarm()
  now = 60_000
  assert.equal(guard.awake(), true)
  assert.equal(stalls, 1)
})
