/**
 * A near cache's fills read each key's PTTL beside its value, the PTTLs of a tick in one script
 * per node. A first version waited for every node's script before answering any fill of the
 * tick: a cold read of a key on a healthy node then waited for, and failed with, a paused one
 * (helper-150). SPEC §3: entries of healthy nodes keep being served while one node is down.
 * A private ring of two servers, since one is paused.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { type Cache, createFleet, type Fleet } from '../../src/index.ts'
import { clientPause, command, waitUntil } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let servers: RedisServer[]
before(async () => {
  servers = await Promise.all([startRedis(), startRedis()])
})
after(() => Promise.all(servers.map((s) => s.stop())))

const COMMAND_TIMEOUT = 300

/** A key of `cache` whose entry lives on `server` (written there, by the ring's placement). */
async function keyOn(cache: Cache, server: RedisServer, namespace: string): Promise<string> {
  for (let i = 0; ; i++) {
    await cache.write(`k${i}`, { i })
    if (Number(await command(server.port, 'EXISTS', `${namespace}:cache:k${i}`)) === 1) return `k${i}`
  }
}

test('a cold near-cache read of a healthy node is not held by a paused node read in the same tick', async () => {
  const namespace = uniqueNamespace('near-paused')
  const errors: string[] = []
  const fleet: Fleet = createFleet({
    url: servers.map((s) => s.url),
    namespace,
    commandTimeout: COMMAND_TIMEOUT,
    retry: { attempts: 1 },
    onError: () => {},
  })
  try {
    const cache = fleet.cache({
      near: { max: 100 },
      errorHandler: ({ exception }) => void errors.push(String(exception)),
    })
    const healthy = await keyOn(cache, servers[0]!, namespace)
    const paused = await keyOn(cache, servers[1]!, namespace)
    // Online: a read served by the near cache.
    await waitUntil('the near cache online', async () => {
      const before = cache.stats().nearHits
      await cache.read(healthy)
      return cache.stats().nearHits > before
    })
    // Both cold again (another write evicts), then one node paused.
    await cache.write(healthy, { fresh: true })
    await cache.write(paused, { fresh: true })
    await clientPause(servers[1]!, 4 * COMMAND_TIMEOUT)
    const [fromHealthy] = await Promise.all([cache.read(healthy), cache.read(paused)])
    assert.deepEqual(fromHealthy, { fresh: true })
    assert.ok(!errors.some((error) => error.includes(`'${healthy}'`)), errors.join('\n'))
  } finally {
    await fleet.close()
  }
})
