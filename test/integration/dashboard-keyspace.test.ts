/**
 * A fleet sharing its Redis with a larger application: the walk of the namespace (SCAN, which
 * visits every key of the node whatever its MATCH) runs once per `redfleet status`, and never
 * in a dashboard refresh, whose snapshot and /metrics do not wait for it. Counted with INFO
 * commandstats on a private server, no clock involved.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { KeyspaceWatch } from '../../src/dashboard/keyspace.ts'
import { MemberWatch } from '../../src/dashboard/members.ts'
import { renderMetrics } from '../../src/dashboard/metrics.ts'
import { NodeWatch } from '../../src/dashboard/nodes.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { SnapshotReader } from '../../src/dashboard/snapshot.ts'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { inspectFleet, type NamespaceKeys, walkNamespace } from '../../src/inspect.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Keys of the other application. */
const FOREIGN = 20_000

/** SCAN calls the server has served so far. */
async function scans(raw: Redis): Promise<number> {
  const stats = await raw.info('commandstats')
  return Number(/cmdstat_scan:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

const deadLetter = { id: '1-1', group: 'billing', error: 'declined', deliveries: 3, envelope: { n: 1 } }

describe('a fleet beside 20,000 keys of another application', () => {
  let server: RedisServer
  let raw: Redis
  let fleet: Fleet

  before(async () => {
    server = await startRedis()
    raw = new Redis(server.url)
    await raw.eval(`for i = 1, ${FOREIGN} do redis.call('SET', 'other:app:' .. i, '1') end`, 0)
    fleet = createFleet({ url: server.url, namespace: uniqueNamespace('bigkeys') })
    await fleet.membership({ ttl: 600_000 }).heartbeat('m-1')
    await fleet.membership().send('m-1', { hello: 1 })
    const streams = fleet.streams()
    for (let i = 0; i < 3; i++) await streams.publish({ i })
    await streams.ensureGroup('billing')
    await streams.publishToChannel('billing:dead', deadLetter)
    await streams.publishToChannel('audit', { plain: true })
    // A store key named like a stream is no stream: TYPE tells them apart.
    await raw.set(`${fleet.namespace}:store:streams:events`, 'x')
  })

  after(async () => {
    await fleet?.close()
    raw?.disconnect()
    await server?.stop()
  })

  test('status walks the keyspace once: one SCAN per 10,000 keys, streams found by name and TYPE', async () => {
    const keys = await raw.dbsize()
    const before = await scans(raw)
    const status = await inspectFleet(fleet)
    const calls = (await scans(raw)) - before
    // Each call walks COUNT keys (fewer only at the end): one pass is ceil(keys / COUNT) calls.
    assert.ok(calls >= 1 && calls <= Math.ceil(keys / 10_000) + 1, `${calls} SCAN calls for ${keys} keys`)
    assert.deepEqual(status.streams.map((s) => s.name).sort(), [
      'membership:inbox:m-1',
      'streams:channel:audit',
      'streams:channel:billing:dead',
      'streams:events',
    ])
    assert.deepEqual(status.deadLetters, [{ channel: 'billing:dead', length: 1 }])
    assert.deepEqual(status.keys, { membership: 2, store: 1, streams: 3 })
  })

  test('a dashboard refresh sends no SCAN: /status.json, /metrics and the rate samples', async () => {
    const dashboard = await startDashboard(fleet, {
      host: '127.0.0.1',
      port: 0,
      allowActions: false,
      interval: 100,
      keyspaceInterval: 3_600_000,
    })
    try {
      const before = await scans(raw)
      const rates = async () => (await (await fetch(`${dashboard.url}rates.json`)).json()).at.length
      const sampled = await rates()
      for (let i = 0; i < 5; i++) {
        const status = await (await fetch(`${dashboard.url}status.json`)).json()
        assert.deepEqual(status.deadLetters, [{ channel: 'billing:dead', length: 1 }])
        assert.deepEqual(status.keys, { membership: 2, store: 1, streams: 3 })
        assert.match(await (await fetch(`${dashboard.url}metrics`)).text(), /^redfleet_members_live 1$/m)
      }
      while ((await rates()) < sampled + 3) await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal((await scans(raw)) - before, 0, 'SCAN calls by the refreshes')
      const status = await (await fetch(`${dashboard.url}status.json`)).json()
      assert.ok(status.keysAt <= status.at, 'keysAt: when the keys were counted')
    } finally {
      await dashboard.close()
    }
  })

  test('while a walk is held, snapshots and /metrics go on with every fleet gauge', async () => {
    const ctx = fleetContext(fleet)
    const deadline = 3 * ctx.commandTimeout
    let release!: (walk: NamespaceKeys) => void
    const held = new Promise<NamespaceKeys>((resolve) => {
      release = resolve
    })
    const keyspace = new KeyspaceWatch(() => held, 3_600_000, 3_600_000)
    const snapshots = new SnapshotReader(
      fleet,
      new NodeWatch(ctx, deadline),
      new MemberWatch(ctx, deadline),
      keyspace,
      deadline,
    )
    keyspace.start()
    try {
      // No walk has ended: the main stream, its groups' dead-letter channels, members and
      // tracker are read all the same; only the key counts wait.
      const first = await snapshots.read()
      assert.equal(first.keysAt, null)
      assert.deepEqual(first.deadLetters, [{ channel: 'billing:dead', length: 1 }])
      const text = renderMetrics(first)
      assert.match(text, /^redfleet_stream_group_lag\{stream="streams:events",group="billing"\} 3$/m)
      assert.match(text, /^redfleet_stream_dead_letters\{channel="billing:dead"\} 1$/m)
      assert.match(text, /^redfleet_members_live 1$/m)
      assert.match(text, /^redfleet_tracker_orphans 0$/m)
      release(await walkNamespace(fleet))
      await keyspace.first(deadline)
      const second = await snapshots.read()
      assert.equal(typeof second.keysAt, 'number')
      assert.deepEqual(second.keys, { membership: 2, store: 1, streams: 3 })
      assert.ok(second.streams.some((s) => s.name === 'streams:channel:audit'))
    } finally {
      release({ keys: {}, streams: [], truncated: false, at: 0, skipped: [] })
      await keyspace.stop()
    }
  })
})
