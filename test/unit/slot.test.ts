/**
 * The cluster slot of a key as Redis computes it (CLUSTER KEYSLOT): the hash tag when there is a
 * non-empty one, else the whole key, even when the key holds braces cluster-key-slot misreads.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { keySlot, wholeKeySlot } from '../../src/topology/slot.ts'

test('slots as CLUSTER KEYSLOT gives them (values from redis-cli cluster keyslot)', () => {
  // redis-cli -c cluster keyslot <key> on Redis 7.0
  const expected: [string, number][] = [
    ['foo', 12182],
    ['{user1000}.following', 3443],
    ['{user1000}.followers', 3443],
    ['foo{}{bar}', 8363],
    ['foo{{bar}}zap', 4015],
    ['foo{bar}{zap}', 5061],
    ['{}', 15257],
    ['a{}b}c', 2041],
    ['claim-f{}g}h', 16305],
  ]
  for (const [key, slot] of expected) assert.equal(keySlot(key), slot, key)
})

test('a key whose first braces are empty is hashed whole, where cluster-key-slot reads a later tag', () => {
  const key = 'claim-f{}g}h'
  assert.equal(keySlot(key), wholeKeySlot(key))
  assert.notEqual(calculateSlot(key), wholeKeySlot(key), 'cluster-key-slot reads the tag g')
  assert.equal(keySlot('x{tag}y'), calculateSlot('tag'))
})
