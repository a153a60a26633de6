import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cli, noRedisUrl } from './cli-support.ts'

describe('redfleet demo in memory', () => {
  test('demo without Redis runs in memory and says so', async () => {
    const run = await cli(['demo'], { ...noRedisUrl, PATH: '/nonexistent' })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /redis-server not found: running in memory/)
    assert.match(run.stdout, /done: jobs 6\/6, orders billed 12\/12, orphans left 0/)
    for (const worker of ['worker-1', 'worker-2', 'worker-3']) {
      assert.match(run.stdout, new RegExp(`\\[${worker}\\] heard on the broker: hello from the coordinator`))
    }
  })
})
