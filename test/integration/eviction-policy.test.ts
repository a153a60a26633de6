import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { recheck, warnOfEviction } from '../../src/eviction-policy.ts'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { countWarnings } from '../harness/warnings.ts'

/** The next RedfleetWarning about an eviction policy, as it is emitted. */
function nextEvictionWarning(): Promise<string> {
  return new Promise((resolve) => {
    const listener = (warning: Error) => {
      if (warning.name !== 'RedfleetWarning' || !warning.message.includes('maxmemory-policy')) return
      process.off('warning', listener)
      resolve(warning.message)
    }
    process.on('warning', listener)
  })
}

const evictionWarnings = (messages: string[]) => messages.filter((m) => m.includes('maxmemory-policy'))

describe('a Redis whose maxmemory-policy evicts keys is warned of when the fleet keeps durable data there', () => {
  const servers: Record<string, RedisServer> = {}
  const start = async (name: string, ...extra: string[]) => {
    servers[name] = await startRedis({ extra })
  }
  before(async () => {
    await Promise.all([
      start('allkeys', '--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'),
      start('volatile', '--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru'),
      start('noeviction', '--maxmemory', '64mb', '--maxmemory-policy', 'noeviction'),
      start('unlimited', '--maxmemory', '0', '--maxmemory-policy', 'allkeys-lru'),
      start('late', '--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lfu'),
    ])
  })
  after(async () => {
    await Promise.all(Object.values(servers).map((s) => s.stop()))
  })

  test('streams on an allkeys-lru node: one warning naming the node and the policy, once per process', async () => {
    const server = servers.allkeys!
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace() })
    const other = createFleet({ url: server.url, namespace: uniqueNamespace() })
    const warnings = countWarnings()
    try {
      const warned = nextEvictionWarning()
      await fleet.streams().publish({ n: 1 })
      const message = await warned
      assert.match(message, new RegExp(`127\\.0\\.0\\.1:${server.port}.*maxmemory-policy allkeys-lru`))
      assert.match(message, /noeviction/)
      // Another fleet of the process, on the same node: asked again, not said again.
      other.membership()
      other.tracker()
      await warnOfEviction(await fleetContext(other).redis(), () => true)
      await nextTurn()
      assert.equal(evictionWarnings(warnings.messages).length, 1, warnings.messages.join('\n'))
    } finally {
      warnings.stop()
      await Promise.all([fleet.close(), other.close()])
    }
  })

  test('a fleet of store and cache alone is not warned; its first membership is', async () => {
    const server = servers.volatile!
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace() })
    const warnings = countWarnings()
    try {
      await fleet.store().set('k', 1)
      await fleet.cache().write('c', 1)
      await fleet.ready()
      await nextTurn()
      assert.deepEqual(evictionWarnings(warnings.messages), [], 'a cache may well be evicted')
      const warned = nextEvictionWarning()
      const membership = fleet.membership()
      await membership.live()
      assert.match(await warned, /maxmemory-policy volatile-lru/)
    } finally {
      warnings.stop()
      await fleet.close()
    }
  })

  test("a node down at the fleet's first use is checked again until it answers", async () => {
    const server = servers.late!
    await server.stop()
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace(),
      reconnectAttempts: 0,
      connectTimeout: 200,
      onError: () => {},
    })
    const every = recheck.after
    recheck.after = 50
    try {
      const warned = nextEvictionWarning()
      await assert.rejects(fleet.streams().publish({ n: 1 }))
      await server.restart()
      assert.match(await warned, /maxmemory-policy allkeys-lfu/)
    } finally {
      recheck.after = every
      await fleet.close()
    }
  })

  test('noeviction, or no maxmemory at all: nothing to warn of', async () => {
    const warnings = countWarnings()
    try {
      for (const name of ['noeviction', 'unlimited']) {
        const fleet = createFleet({ url: servers[name]!.url, namespace: uniqueNamespace() })
        try {
          await warnOfEviction(await fleetContext(fleet).redis(), () => true)
        } finally {
          await fleet.close()
        }
      }
      await nextTurn()
      assert.deepEqual(evictionWarnings(warnings.messages), [])
    } finally {
      warnings.stop()
    }
  })
})
