import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { printed, start } from './cli-support.ts'

describe('redfleet demo interrupted', () => {
  test('Ctrl-C in the middle of the demo stops its workers, deletes its keys and exits 1', async () => {
    const { standalone } = await testServers()
    const namespace = uniqueNamespace('demo')
    const demo = start(['demo', '--url', standalone, '--namespace', namespace])
    await printed(demo.child, demo.output, /sent 2 jobs of/)
    demo.child.kill('SIGINT')
    const run = await demo.exited
    assert.equal(run.code, 1, run.stderr)
    assert.equal(run.stderr, 'redfleet: demo: interrupted\n')
    const raw = new Redis(standalone)
    try {
      assert.deepEqual(await raw.keys(`${namespace}*`), [])
    } finally {
      raw.disconnect()
    }
  })
})
