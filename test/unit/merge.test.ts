import assert from 'node:assert/strict'
import { test } from 'node:test'
import { changesSince, mergeNewest } from '../../src/integrations/merge.ts'

test('objects deep-merge, arrays union newest-first, scalars from the newest write', () => {
  assert.deepEqual(
    mergeNewest({ a: { x: 1, y: [1, 2] }, s: 'old', keep: true }, { a: { x: 2, y: [3, 1] }, s: 'new' }),
    { a: { x: 2, y: [3, 1, 2] }, s: 'new', keep: true },
  )
  assert.deepEqual(mergeNewest(undefined, { a: 1 }), { a: 1 })
  assert.deepEqual(mergeNewest({ a: 1 }, undefined), { a: 1 })
  assert.deepEqual(mergeNewest({ a: [1] }, { a: 'now a string' }), { a: 'now a string' })
})

test('changesSince keeps only added or changed parts', () => {
  assert.equal(changesSince({ a: 1 }, { a: 1 }), undefined)
  assert.deepEqual(changesSince({ a: 1, b: { c: 1 } }, { a: 1, b: { c: 1, d: 2 } }), { b: { d: 2 } })
  assert.deepEqual(changesSince(undefined, { a: 1 }), { a: 1 })
  assert.deepEqual(changesSince({ l: [1] }, { l: [2, 1] }), { l: [2, 1] })
})
