import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConnectionError } from '../../src/errors.ts'
import { Waiters } from '../../src/pubsub/waiters.ts'

test('the changes of one turn are re-checked once: N waiters confirmed one by one cost O(N) checks, not O(N²)', async () => {
  const waiters = new Waiters()
  const count = 2000
  const confirmed = new Array<boolean>(count).fill(false)
  let checks = 0
  const ready = confirmed.map((_, i) =>
    waiters.until(
      () => {
        checks++
        return confirmed[i]!
      },
      `subscribe 'c${i}'`,
      60_000,
    ),
  )
  // One confirmation after another within one turn, as a burst of placements arrives.
  for (let i = 0; i < count; i++) {
    confirmed[i] = true
    waiters.changed()
  }
  await Promise.all(ready)
  // Each waiter: once when it was made, once at the re-check (helper-316: every change re-checked
  // every waiter, 2,000 × 2,000 / 2 checks here, 10,000 × 10,000 for a burst of 10,000).
  assert.ok(checks <= 2 * count, `${checks} checks for ${count} waiters`)
})

test('a condition that came true in the turn its time-out fires resolves, not rejects', async () => {
  const waiters = new Waiters()
  let live = false
  const ready = waiters.until(() => live, "subscribe 'c'", 1)
  // Made true with no changed() after it: only the time-out's own check can see it.
  live = true
  await ready
})

test('a condition still false at its time-out rejects with ConnectionError naming it', async () => {
  const waiters = new Waiters()
  await assert.rejects(
    waiters.until(() => false, "subscribe 'c'", 1),
    (error: unknown) => {
      assert.ok(error instanceof ConnectionError)
      assert.match(String(error), /subscribe 'c': not confirmed by Redis within 1 ms/)
      return true
    },
  )
})
