import assert from 'node:assert/strict'
import { test } from 'node:test'
import { withDeadline } from '../../src/deadline.ts'
import { countWarnings } from '../harness/warnings.ts'

test('withDeadline: a deadline past what a Node timer holds (two timeouts added) is armed without overflowing', async () => {
  const overflows = countWarnings('TimeoutOverflowWarning')
  try {
    let finish!: (value: string) => void
    const work = new Promise<string>((resolve) => {
      finish = resolve
    })
    // connectTimeout + commandTimeout, each at most 2^31 - 1 ms (an opening's limit).
    const racing = withDeadline(work, 2 ** 31 - 1 + 1000, () => new Error('expired'))
    // Node warns as it arms such a timer (emitted on the next tick), and fires it after 1 ms.
    await new Promise(setImmediate)
    finish('done')
    assert.equal(await racing, 'done')
    assert.deepEqual(overflows.messages, [])
  } finally {
    overflows.stop()
  }
})
