import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeEntry, ENVELOPE_FIELD, PUBLISH_ID_FIELD, REPLAY_FIELD } from '../../src/streams/entry.ts'

const json = JSON.stringify({ order: 1 })
const entry = (...fields: string[]) => ({ id: '1-0', fields: [ENVELOPE_FIELD, json, ...fields] })

test('a publish id is hidden: every reader gets the envelope', () => {
  assert.deepEqual(decodeEntry(entry(PUBLISH_ID_FIELD, 'p1'))?.envelope, { order: 1 })
  assert.deepEqual(decodeEntry(entry(PUBLISH_ID_FIELD, 'p1'), 'billing')?.envelope, { order: 1 })
})

test('a replay, with or without its publish id, is for its group only', () => {
  for (const fields of [
    [REPLAY_FIELD, 'billing'],
    [REPLAY_FIELD, 'billing', PUBLISH_ID_FIELD, 'replay:1-0:dead'],
  ]) {
    assert.deepEqual(decodeEntry(entry(...fields), 'billing')?.envelope, { order: 1 }, fields.join(' '))
    assert.equal(decodeEntry(entry(...fields), 'shipping'), undefined, fields.join(' '))
    assert.equal(decodeEntry(entry(...fields)), undefined, `a tail skips ${fields.join(' ')}`)
  }
})

test('other fields make an entry not ours', () => {
  for (const fields of [
    ['x', 'y'],
    [REPLAY_FIELD, 'billing', 'x', 'y'],
    [PUBLISH_ID_FIELD],
    [REPLAY_FIELD, 'billing', PUBLISH_ID_FIELD, 'p', PUBLISH_ID_FIELD, 'q'],
    [PUBLISH_ID_FIELD, 'p', PUBLISH_ID_FIELD, 'q'],
    [REPLAY_FIELD, 'billing', REPLAY_FIELD, 'billing'],
    [PUBLISH_ID_FIELD, 'p', REPLAY_FIELD, 'billing'],
  ]) {
    assert.equal(decodeEntry(entry(...fields), 'billing'), undefined, fields.join(' '))
  }
})
