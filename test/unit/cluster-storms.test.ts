/**
 * A cluster client's redirection storm, as ioredis throws it: refused to the end (MOVED,
 * CLUSTERDOWN) it is a CommandError that was not applied; ended by a lost connection (ioredis
 * counts redirections before it looks at the error) it is a ConnectionError that may have been.
 * Either way a part of a multi-node write that another part's success makes 'unknown'.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  CommandError,
  ConnectionError,
  isAmbiguous,
  isTransient,
  isTransientFailure,
  translateError,
} from '../../src/errors.ts'
import { isPassing } from '../../src/loops.ts'
import { everyPart } from '../../src/topology/pipeline.ts'

const lost = () => new Error('Too many Cluster redirections. Last error: Error: Connection is closed.')
const refused = () =>
  new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 866 127.0.0.1:7001')
const slotMap = () => new Error('All keys in the pipeline should belong to the same slots allocation group')

test('a storm ended by a lost connection is a lost connection: retried, ridden out by loops, outcome unknown', () => {
  const error = translateError(lost(), 'store.get', 'k')
  assert.ok(error instanceof ConnectionError, String(error))
  assert.equal(error.outcome, 'unknown')
  assert.ok(isTransient(error) && isAmbiguous(error) && isPassing(error))
  assert.ok(isTransientFailure(lost()), 'retry() tries again too')
})

test('a storm refused to the end, or the slot map moving under a pipeline, was not applied', () => {
  for (const raw of [refused(), slotMap()]) {
    const error = translateError(raw, 'store.set', 'k')
    assert.ok(error instanceof CommandError, String(error))
    assert.equal(error.outcome, 'not-applied')
    assert.ok(isTransient(error) && !isAmbiguous(error))
  }
})

test('beside another node’s part that was applied, any of them is unknown', async () => {
  for (const raw of [refused(), slotMap(), lost()]) {
    const failure = await everyPart([Promise.resolve('1-0'), Promise.reject(raw)]).catch((e: unknown) => e)
    const error = translateError(failure, 'streams.publish') as { outcome?: string; message: string }
    assert.equal(error.outcome, 'unknown', raw.message)
    assert.match(error.message, /^streams\.publish failed: /)
  }
})
