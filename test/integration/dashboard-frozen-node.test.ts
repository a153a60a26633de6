/**
 * A running dashboard whose ring has one node frozen (SIGSTOP: it accepts connections and answers
 * nothing) shows the rest of the fleet and names the parts it could not read (README: "with one
 * node of a ring down it shows the rest and lists the parts it could not read"). Each read of the
 * frozen node waits out its retries, longer than the dashboard's read deadline: the whole read
 * failed, and the page said Redis was unreachable for as long as the node stayed frozen
 * (helper-191).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { startDashboard } from '../../src/dashboard/server.ts'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { info } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

interface Status {
  streams?: { name: string }[]
  unavailable?: { part: string; error: string }[]
  error?: { message: string }
}

/** A ring of `size` servers, its fleet (commandTimeout 300), closed and stopped after the file. */
async function ring(size: number): Promise<{ servers: RedisServer[]; fleet: Fleet }> {
  const servers = await Promise.all(Array.from({ length: size }, () => startRedis()))
  cleanups.push(() => Promise.all(servers.map((s) => s.stop())))
  const fleet = createFleet({
    url: servers.map((s) => s.url),
    namespace: uniqueNamespace('dash-frozen'),
    commandTimeout: 300,
    onError: () => {},
  })
  cleanups.push(() => fleet.close())
  return { servers, fleet }
}

/** A dashboard of `fleet` refreshing every 300 ms, closed after the file. */
async function dashboardOf(fleet: Fleet): ReturnType<typeof startDashboard> {
  const dashboard = await startDashboard(fleet, {
    host: '127.0.0.1',
    port: 0,
    allowActions: false,
    interval: 300,
  })
  cleanups.push(() => dashboard.close())
  return dashboard
}

/** SIGSTOPs `server` (it accepts connections and answers nothing) for the time of `work`. */
async function whileFrozen(server: RedisServer, work: () => Promise<void>): Promise<void> {
  const pid = Number((await info(server.port, 'server')).get('process_id'))
  process.kill(pid, 'SIGSTOP')
  try {
    await work()
  } finally {
    process.kill(pid, 'SIGCONT')
  }
}

test('a ring node frozen under a running dashboard: the others are shown, its parts named', async () => {
  const { servers, fleet } = await ring(3)
  // One channel on each node.
  const topology = await fleetContext(fleet).redis()
  const channelOn = new Map<string, string>()
  for (let i = 0; channelOn.size < 3; i++) {
    const name = `orders-${i}`
    const node = topology.nodeOf(fleetContext(fleet).keys.key('streams', 'channel', name))!
    if (!channelOn.has(node)) channelOn.set(node, name)
  }
  for (const name of channelOn.values()) await fleet.streams().publishToChannel(name, { n: 1 })
  const dashboard = await dashboardOf(fleet)
  const read = async () => {
    const response = await fetch(`${dashboard.url}status.json`)
    return { code: response.status, status: (await response.json()) as Status }
  }
  assert.equal((await read()).code, 200)

  const frozen = servers[0]!
  const frozenId = `127.0.0.1:${frozen.port}/0`
  const onFrozen = channelOn.get(frozenId)!
  const onOthers = [...channelOn].filter(([node]) => node !== frozenId).map(([, name]) => name)
  await whileFrozen(frozen, async () => {
    // The first read may have begun before the node froze: the next ones must show the rest.
    for (let n = 0; n < 3; n++) {
      const { code, status } = await read()
      assert.equal(code, 200, `read ${n}: ${status.error?.message}`)
      const shown = status.streams?.map((s) => s.name) ?? []
      for (const name of onOthers)
        assert.ok(shown.includes(`streams:channel:${name}`), `${name} shown: ${shown}`)
      assert.ok(
        status.unavailable?.some((u) => u.error.includes(onFrozen)),
        `the frozen node's channel ${onFrozen} named: ${JSON.stringify(status.unavailable)}`,
      )
    }
  })
})

test('orphans and a tracker instance with a ring node frozen: the 503 names the node', async () => {
  // Orphans need every node's index, liveness and jobs: the page fails whole, and says which
  // node it waited for (helper-228: "Redis is unreachable", no node named).
  const { servers, fleet } = await ring(2)
  const dashboard = await dashboardOf(fleet)
  const [frozen, other] = servers as [RedisServer, RedisServer]
  await whileFrozen(frozen, async () => {
    for (const path of ['orphans.json', 'tracker.json?instance=i-1']) {
      const response = await fetch(`${dashboard.url}${path}`)
      const body = (await response.json()) as { error: { message: string; unreachable: boolean } }
      assert.equal(response.status, 503, path)
      assert.equal(body.error.unreachable, true)
      assert.match(body.error.message, new RegExp(`not answering: 127\\.0\\.0\\.1:${frozen.port}/0 `), path)
      assert.doesNotMatch(body.error.message, new RegExp(`:${other.port}/`), path)
    }
  })
})
