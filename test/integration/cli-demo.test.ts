import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { cli } from './cli-support.ts'

describe('redfleet demo', () => {
  test('demo: three worker processes, one killed mid-job, its jobs recovered; no key left behind', async () => {
    const { standalone } = await testServers()
    const namespace = uniqueNamespace('demo')
    const run = await cli(['demo', '--url', standalone, '--namespace', namespace])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /killed worker-3 in the middle of its 2 jobs/)
    assert.match(run.stdout, /recovered 2 orphaned jobs of worker-3/)
    assert.match(run.stdout, /done: jobs 6\/6, orders billed 12\/12, orphans left 0/)
    const raw = new Redis(standalone)
    try {
      assert.deepEqual(await raw.keys(`${namespace}*`), [])
    } finally {
      raw.disconnect()
    }
  })
})
