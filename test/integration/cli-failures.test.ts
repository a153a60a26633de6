import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, test } from 'node:test'
import { testServers } from '../harness/servers.ts'
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

describe('redfleet status --cluster against a standalone server', () => {
  test('exits 1 with one line that speaks of --cluster, not of the library option', async () => {
    const servers = await testServers()
    const result = await cli(['status', '--url', servers.standalone, '--cluster'])
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stderr, /^redfleet: --cluster, but Redis at .* is not a Redis Cluster/)
    assert.match(result.stderr, /remove --cluster to use it as a standalone server/)
    assert.doesNotMatch(result.stderr, /cluster: true/)
    assertOneLine(result.stderr)
  })
})

describe('redfleet demo without Redis', () => {
  test('demo exits 1 with one line naming the node when Redis refuses or never answers, before any worker starts', async () => {
    // A server that accepts connections and never answers.
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    try {
      for (const [url, node] of [
        ['redis://127.0.0.1:1', '127.0.0.1:1'],
        [`redis://127.0.0.1:${port}`, `127.0.0.1:${port}`],
      ] as const) {
        const result = await cli(['demo', '--url', url])
        assert.equal(result.code, 1, result.stderr)
        assert.ok(result.stderr.startsWith(`redfleet: cannot reach Redis at ${node}`), result.stderr)
        assertOneLine(result.stderr)
        assert.doesNotMatch(result.stdout, /\[worker-/)
      }
    } finally {
      silent.close()
    }
  })
})
