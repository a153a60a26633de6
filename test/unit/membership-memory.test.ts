/**
 * Memory liveness on a mocked clock: a member is never seen dead before its ttl has passed.
 * Date.now() rounds the heartbeat's moment down, so an expiry counted from it came up to 1 ms
 * early (the Redis script counted from TIME rounded down the same way).
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import { MemoryMembershipBackend } from '../../src/membership/memory.ts'
import { MemoryKeyspace } from '../../src/topology/memory.ts'

describe('MemoryMembershipBackend', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date', 'setInterval'], now: 1_000_000 }))
  afterEach(() => mock.timers.reset())

  test('a member stays live through the millisecond its ttl ends in, and not one more', async () => {
    const members = new MemoryMembershipBackend(new MemoryKeyspace())
    // Date.now() says 1_000_000 anywhere in [1_000_000, 1_000_001): the heartbeat may have been
    // at 1_000_000.9, so at 1_000_002 (1.1 ms later) a ttl of 2 ms has not passed.
    await members.heartbeat('live', 'a', 2)
    mock.timers.tick(2)
    assert.deepEqual(await members.live('live'), ['a'])
    mock.timers.tick(1)
    assert.deepEqual(await members.live('live'), [])
  })
})
