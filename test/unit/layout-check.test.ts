import assert from 'node:assert/strict'
import { test } from 'node:test'
import { inTurn, slotsReplyMatches } from '../../src/topology/layout-check.ts'

/** Owners of 16384 slots: the first half at `a`, the rest at `b`. */
function owners(a: string, b: string): (string | undefined)[] {
  return Array.from({ length: 16384 }, (_, slot) => (slot < 8192 ? a : b))
}

const reply = (a: [string, number], b: [string, number]) => [
  [0, 8191, [a[0], a[1], 'id-a']],
  [8192, 16383, [b[0], b[1], 'id-b'], ['127.0.0.1', 7003, 'replica']],
]

test('CLUSTER SLOTS that names every slot’s master as the client does: no reload needed', () => {
  const known = owners('127.0.0.1:7000', '127.0.0.1:7001')
  assert.equal(slotsReplyMatches(reply(['127.0.0.1', 7000], ['127.0.0.1', 7001]), known, '127.0.0.1'), true)
  // A node that reports no host is at the host of the node asked.
  assert.equal(slotsReplyMatches(reply(['', 7000], ['127.0.0.1', 7001]), known, '127.0.0.1'), true)
})

test('a slot served elsewhere, a slot no longer or newly served, or no reply: a reload', () => {
  const known = owners('127.0.0.1:7000', '127.0.0.1:7001')
  assert.equal(slotsReplyMatches(reply(['127.0.0.1', 7000], ['127.0.0.1', 7002]), known, '127.0.0.1'), false)
  const lost = [[0, 8191, ['127.0.0.1', 7000, 'id-a']]]
  assert.equal(slotsReplyMatches(lost, known, '127.0.0.1'), false)
  const partly = known.map((owner, slot) => (slot === 5 ? undefined : owner))
  assert.equal(slotsReplyMatches(reply(['127.0.0.1', 7000], ['127.0.0.1', 7001]), partly, '127.0.0.1'), false)
  assert.equal(slotsReplyMatches(undefined, known, '127.0.0.1'), false)
  assert.equal(slotsReplyMatches([], undefined, '127.0.0.1'), false)
})

test('each check asks the next master in turn (a lagging view is not the only one asked)', () => {
  assert.deepEqual(
    [0, 1, 2, 3].map((turn) => inTurn(['a', 'b', 'c'], turn)),
    ['a', 'b', 'c', 'a'],
  )
  assert.equal(inTurn([], 5), undefined)
})
