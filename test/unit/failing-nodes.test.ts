import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FailingNodes } from '../../src/failing-nodes.ts'

test('a node is reported by the first watcher to see it fail, until every one that did sees it work', () => {
  const nodes = new FailingNodes()
  const a = {}
  const b = {}
  assert.equal(nodes.failed('n1', a), true, 'the first to see it fail reports it')
  assert.equal(nodes.failed('n1', b), false, 'another namespace does not')
  assert.equal(nodes.failed('n2', b), true, 'another node is its own')
  nodes.worked('n1', a)
  assert.equal(nodes.failed('n1', a), false, 'still failing for b: the same spell')
  nodes.worked('n1', a)
  nodes.worked('n1', b)
  assert.equal(nodes.failed('n1', a), true, 'a new spell is reported again')
})
