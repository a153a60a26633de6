/**
 * Dashboard pages that send commands of their own report a failure as every page does (503,
 * the error named, `unreachable` when Redis is), never as an empty answer or a TypeError.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { MemberWatch } from '../../src/dashboard/members.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { startRedis } from '../harness/redis-server.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

type Dashboard = Awaited<ReturnType<typeof startDashboard>>

async function get(d: Dashboard, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${d.url}${path}`)
  return { status: response.status, body: await response.text() }
}

describe('dashboard: command errors of its own reads', () => {
  let fleet: Fleet
  let raw: Redis
  let namespace: string
  let dashboard: Dashboard

  before(async () => {
    const options = await topologyOptions('standalone')
    namespace = uniqueNamespace('errors')
    fleet = createFleet({ ...options, namespace })
    raw = new Redis(String(options.url))
    await fleet.streams().ensureGroup('billing')
    await raw.set(`${namespace}:store:plain`, 'not a stream')
    dashboard = await startDashboard(fleet, { host: '127.0.0.1', port: 0, allowActions: false })
  })

  after(async () => {
    await dashboard?.close()
    raw?.disconnect()
    await fleet?.close()
  })

  test('/group: a missing stream or group is "no group"; a key that is not a stream is the command error', async () => {
    const found = await get(dashboard, 'group.json?stream=streams:events&group=billing')
    assert.equal(found.status, 200)
    assert.equal(JSON.parse(found.body).found, true)
    for (const query of ['stream=streams:events&group=nope', 'stream=streams:nothing&group=billing']) {
      const missing = await get(dashboard, `group.json?${query}`)
      assert.equal(missing.status, 200, missing.body)
      assert.equal(JSON.parse(missing.body).found, false)
    }
    const wrong = await get(dashboard, 'group.json?stream=store:plain&group=billing')
    assert.equal(wrong.status, 503, wrong.body)
    const { error } = JSON.parse(wrong.body)
    assert.match(error.message, /WRONGTYPE/)
    assert.equal(error.unreachable, false)
    const page = await get(dashboard, 'group?stream=store:plain&group=billing')
    assert.equal(page.status, 503)
    assert.doesNotMatch(page.body, /No group/)
  })

  test('members: a WRONGTYPE membership key is named in the error, in /status.json too', async () => {
    const own = createFleet({ ...(await topologyOptions('standalone')), namespace: uniqueNamespace('wt') })
    try {
      await raw.set(`${own.namespace}:membership:live`, 'oops')
      const watch = new MemberWatch(fleetContext(own), 5000)
      await assert.rejects(watch.read(), /^CommandError: membership\.live failed: WRONGTYPE/)
      const d = await startDashboard(own, { host: '127.0.0.1', port: 0, allowActions: false })
      try {
        const status = await get(d, 'status.json')
        assert.equal(status.status, 503)
        const { error } = JSON.parse(status.body)
        assert.match(error.message, /^membership\.live failed: WRONGTYPE/)
        assert.equal(error.code, 'ERR_COMMAND')
      } finally {
        await d.close()
      }
    } finally {
      await own.close()
    }
  })
})

describe('dashboard: Redis stopped under a group drill-down', () => {
  test('/group answers 503, unreachable, not "no group"', async () => {
    const server = await startRedis()
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace('down'),
      commandTimeout: 500,
      onError: () => {}, // Redis going away is what the test does
    })
    const d = await startDashboard(fleet, { host: '127.0.0.1', port: 0, allowActions: false, interval: 500 })
    try {
      await fleet.streams().ensureGroup('billing')
      const query = 'stream=streams:events&group=billing'
      assert.equal(JSON.parse((await get(d, `group.json?${query}`)).body).found, true)
      await server.stop()
      const down = await get(d, `group.json?${query}`)
      assert.equal(down.status, 503, down.body)
      assert.equal(JSON.parse(down.body).error.unreachable, true)
      const page = await get(d, `group?${query}`)
      assert.equal(page.status, 503)
      assert.doesNotMatch(page.body, /No group/)
      assert.match(page.body, /<span id="status" class="pill down">unreachable<\/span>/)
      assert.match(page.body, /Redis is unreachable/)
    } finally {
      await d.close()
      await fleet.close()
      await server.stop()
    }
  })
})
