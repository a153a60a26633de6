/**
 * The peer range covers ioredis 5 and 6 (issue 12), and CI proves it by running the contract
 * suites a second time with REDFLEET_TEST_IOREDIS=ioredis5 (.ci/run): this file checks that the
 * variable really makes a fleet load and work on that copy, not on the default ioredis 6. The same
 * for `transport: 'node-redis'` and REDFLEET_TEST_NODE_REDIS (its CI runs on node-redis 5 and 6).
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

process.env.REDFLEET_TEST_IOREDIS = 'ioredis5'
process.env.REDFLEET_TEST_NODE_REDIS = 'node-redis6'
const { createFleet } = await import('../../src/index.ts')
const { loadIORedis } = await import('../../src/topology/ioredis.ts')
const { loadNodeRedis } = await import('../../src/topology/node-redis-module.ts')
const root = join(import.meta.dirname, '..', '..')

function version(dependency: string): string {
  return (
    JSON.parse(readFileSync(join(root, 'node_modules', dependency, 'package.json'), 'utf8')) as {
      version: string
    }
  ).version
}

test('the peer range names ioredis 5 and 6, and both are installed for the tests', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    peerDependencies: Record<string, string>
  }
  assert.equal(pkg.peerDependencies.ioredis, '^5.0.0 || ^6.0.0')
  assert.equal(pkg.peerDependencies.redis, '^5.0.0 || ^6.0.0')
  assert.match(version('ioredis5'), /^5\./)
  assert.match(version('ioredis'), /^6\./)
})

test('REDFLEET_TEST_IOREDIS=ioredis5: the fleet loads ioredis 5 and runs on it', async () => {
  const [loaded, five, six] = await Promise.all([loadIORedis(), import('ioredis5'), import('ioredis')])
  assert.equal(loaded.Redis, five.Redis)
  assert.notEqual(loaded.Redis, six.Redis)
  const { standalone } = await testServers()
  const fleet = createFleet({ url: standalone, namespace: uniqueNamespace('peers') })
  try {
    const store = fleet.store<{ n: number }>()
    await store.set('k', { n: 5 })
    assert.deepEqual(await store.get('k'), { n: 5 })
    assert.equal(await store.update('k', (v) => ({ n: (v?.n ?? 0) + 1 })).then((v) => v?.n), 6)
  } finally {
    await fleet.close()
  }
})

test("REDFLEET_TEST_NODE_REDIS=node-redis6: a transport: 'node-redis' fleet loads node-redis 6 and runs on it", async () => {
  const [loaded, five, six] = await Promise.all([
    loadNodeRedis(),
    import('node-redis5'),
    import('node-redis6'),
  ])
  assert.equal(loaded.createClient, six.createClient)
  assert.notEqual(loaded.createClient, five.createClient)
  assert.match(version('node-redis6'), /^6\./)
  const { standalone } = await testServers()
  const fleet = createFleet({ url: standalone, transport: 'node-redis', namespace: uniqueNamespace('peers') })
  try {
    const store = fleet.store<{ n: number }>()
    await store.set('k', { n: 6 })
    assert.deepEqual(await store.get('k'), { n: 6 })
  } finally {
    await fleet.close()
  }
})
