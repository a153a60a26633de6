/**
 * The memory topology's keyspace on a mocked clock: expiry at the exact millisecond Redis would
 * expire a key, PTTL's answers, KEEPTTL, EXPIRE and prefix listing.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import { MemoryKeyspace } from '../../src/topology/memory.ts'

// The mocked clock is scoped to this suite: other files may share the process (npm run mutate).
describe('MemoryKeyspace', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date', 'setInterval'], now: 1_000_000 }))
  afterEach(() => mock.timers.reset())

  test('a set value is read back until deleted; delete says whether a live entry was there', () => {
    const memory = new MemoryKeyspace()
    assert.equal(memory.get('k'), undefined)
    assert.equal(memory.has('k'), false)
    memory.set('k', { a: 1 })
    assert.deepEqual(memory.get('k'), { a: 1 })
    assert.equal(memory.has('k'), true)
    assert.equal(memory.delete('k'), true)
    assert.equal(memory.delete('k'), false)
    assert.equal(memory.has('k'), false)
  })

  test('an entry with a ttl lives until its expiry, not a millisecond more', () => {
    const memory = new MemoryKeyspace()
    memory.set('k', 'v', 100)
    mock.timers.tick(99)
    assert.equal(memory.get('k'), 'v')
    assert.equal(memory.pttl('k'), 1)
    mock.timers.tick(1)
    assert.equal(memory.get('k'), undefined)
    assert.equal(memory.has('k'), false)
    assert.equal(memory.delete('k'), false, 'an expired entry is not there to delete')
  })

  test('pttl: -2 when missing, -1 without expiry, else the time left', () => {
    const memory = new MemoryKeyspace()
    assert.equal(memory.pttl('k'), -2)
    memory.set('k', 1)
    assert.equal(memory.pttl('k'), -1)
    memory.set('t', 1, 500)
    mock.timers.tick(200)
    assert.equal(memory.pttl('t'), 300)
  })

  test('set with keep keeps a live entry’s expiry, and an expired one’s is gone', () => {
    const memory = new MemoryKeyspace()
    memory.set('k', 1, 100)
    mock.timers.tick(40)
    memory.set('k', 2, 'keep')
    assert.equal(memory.get('k'), 2)
    assert.equal(memory.pttl('k'), 60)
    memory.set('n', 1, 'keep')
    assert.equal(memory.pttl('n'), -1, 'nothing to keep: no expiry')
    memory.set('old', 1, 10)
    mock.timers.tick(10)
    memory.set('old', 2, 'keep')
    assert.equal(memory.pttl('old'), -1, 'the expired entry’s expiry is not kept')
    memory.set('k', 3)
    assert.equal(memory.pttl('k'), -1, 'a plain set clears the expiry')
  })

  test('expire sets an expiry on a live entry only', () => {
    const memory = new MemoryKeyspace()
    assert.equal(memory.expire('k', 100), false)
    assert.equal(memory.has('k'), false)
    memory.set('k', 1)
    assert.equal(memory.expire('k', 100), true)
    assert.equal(memory.pttl('k'), 100)
    mock.timers.tick(100)
    assert.equal(memory.has('k'), false)
    assert.equal(memory.expire('k', 100), false, 'expired: nothing to expire')
  })

  test('keys lists the live keys with the prefix', () => {
    const memory = new MemoryKeyspace()
    memory.set('a:1', 1)
    memory.set('a:2', 2, 50)
    memory.set('a:3', 3, 500)
    memory.set('b:1', 4)
    assert.deepEqual([...memory.keys('a:')], ['a:1', 'a:2', 'a:3'])
    mock.timers.tick(50)
    assert.deepEqual([...memory.keys('a:')], ['a:1', 'a:3'])
    assert.deepEqual([...memory.keys('')].sort(), ['a:1', 'a:3', 'b:1'])
  })
})
