import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { assertOneLine, cli } from './cli-support.ts'

describe('redfleet dashboard without Redis', () => {
  test('dashboard exits 1 with the reason when it cannot reach Redis, without listening', async () => {
    const unreachable = await cli(['dashboard', '--url', 'redis://127.0.0.1:1', '--port', '0'])
    assert.equal(unreachable.code, 1)
    assert.match(unreachable.stderr, /^redfleet: cannot reach Redis at 127\.0\.0\.1:1/)
    assertOneLine(unreachable.stderr)
    assert.equal(unreachable.stdout, '')
  })
})
