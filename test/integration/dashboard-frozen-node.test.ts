/**
 * A running dashboard whose ring has one node frozen (SIGSTOP: it accepts connections and answers
 * nothing) shows the rest of the fleet and names the parts it could not read (README: "with one
 * node of a ring down it shows the rest and lists the parts it could not read"). Each read of the
 * frozen node waits out its retries, longer than the dashboard's read deadline: the whole read
 * failed, and the page said Redis was unreachable for as long as the node stayed frozen
 * (helper-191). And one whose ring has a server killed keeps naming that server's streams
 * after the walks of the keyspace that cannot see them.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { readDeadline } from '../../src/dashboard/deadline.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { inspectFleet, walkNamespace } from '../../src/inspect.ts'
import { info, waitUntil } from '../harness/faults.ts'
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

/** A ring of `size` servers, its fleet (commandTimeout 300 unless given), closed and stopped after the file. */
async function ring(size: number, commandTimeout = 300): Promise<{ servers: RedisServer[]; fleet: Fleet }> {
  const servers = await Promise.all(Array.from({ length: size }, () => startRedis()))
  cleanups.push(() => Promise.all(servers.map((s) => s.stop())))
  const fleet = createFleet({
    url: servers.map((s) => s.url),
    namespace: uniqueNamespace('dash-frozen'),
    commandTimeout,
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

// A dashboard's read of the fleet (inspectFleet with the last walk, bounded by `within`): the
// streams on the frozen node are waited for until the deadline. The other streams were read
// in stages (their types, then each one, then the dead-letter channels' first entries), each
// stage after the whole stage before it: by then no time was left, so a stream and a dead-letter
// channel on a node that answers were named unavailable and left out (helper-250).
test('a ring node frozen: the streams and the dead-letter channels on a node that answers are read', async () => {
  // Each read of the frozen node outlasts the deadline: commandTimeout is longer.
  const within = 2000
  const { servers, fleet } = await ring(2, within * 2)
  const ctx = fleetContext(fleet)
  const topology = await ctx.redis()
  const frozen = servers[0]!
  const frozenId = `127.0.0.1:${frozen.port}/0`
  const nodeOf = (channel: string) => topology.nodeOf(ctx.keys.key('streams', 'channel', channel))
  let dead = ''
  let other = ''
  for (let i = 0; !dead || !other; i++) {
    if (!dead && nodeOf(`g${i}:dead`) !== frozenId) dead = `g${i}:dead`
    if (!other && nodeOf(`orders-${i}`) === frozenId) other = `orders-${i}`
  }
  // What a consumer's dead-lettering writes: the entry's id, its group and its envelope.
  await fleet.streams().publishToChannel(dead, { id: '1-0', group: 'g', envelope: { n: 1 } })
  await fleet.streams().publishToChannel(other, { n: 1 })
  const keyspace = await walkNamespace(fleet)
  const expected = [{ channel: dead, length: 1 }]
  assert.deepEqual((await inspectFleet(fleet, { keyspace, within })).deadLetters, expected)
  await whileFrozen(frozen, async () => {
    // Before, a read of the node that answers, begun at the deadline, still won the race with its
    // timer (1 ms) now and then: three reads.
    for (let n = 0; n < 3; n++) {
      const status = await inspectFleet(fleet, { keyspace, within })
      const unavailable = JSON.stringify(status.unavailable)
      // The main stream is named too when the frozen node is the one it would be on.
      const unread = status.unavailable.map((u) => u.error.split(': ')[0])
      assert.ok(unread.includes(`streams:channel:${other}`), unavailable)
      assert.ok(!unread.includes(`streams:channel:${dead}`), unavailable)
      assert.deepEqual(
        status.streams.map((s) => s.name),
        [`streams:channel:${dead}`],
        unavailable,
      )
      assert.deepEqual(status.deadLetters, expected, unavailable)
    }
  })
})

test('orphans and a tracker instance with a ring node frozen: the 503 names the node, at the deadline', async () => {
  // Orphans need every node's index, liveness and jobs: the page fails whole, and says which
  // node it waited for (helper-228: "Redis is unreachable", no node named). The nodes were
  // asked once the deadline had passed, whose INFO to the frozen one then waited out its own
  // commandTimeout: the 503 came a third after the deadline its message named (helper-292).
  const commandTimeout = 1000
  const { servers, fleet } = await ring(2, commandTimeout)
  const dashboard = await dashboardOf(fleet)
  const deadline = readDeadline(300, commandTimeout)
  const [frozen, other] = servers as [RedisServer, RedisServer]
  await whileFrozen(frozen, async () => {
    for (const path of ['orphans.json', 'tracker.json?instance=i-1']) {
      const asked = performance.now()
      const response = await fetch(`${dashboard.url}${path}`)
      const body = (await response.json()) as { error: { message: string; unreachable: boolean } }
      const took = performance.now() - asked
      assert.ok(took < deadline + commandTimeout / 2, `${path}: ${took} ms, the deadline is ${deadline} ms`)
      assert.equal(response.status, 503, path)
      assert.equal(body.error.unreachable, true)
      assert.match(body.error.message, new RegExp(`not answering: 127\\.0\\.0\\.1:${frozen.port}/0 `), path)
      assert.doesNotMatch(body.error.message, new RegExp(`:${other.port}/`), path)
    }
  })
})

// A server killed, not frozen: the walks of the keyspace (every 200 ms here) cannot see its
// streams, which stay named unavailable rather than leaving the page (helper-247); the rate
// charts go on from the streams the others hold (helper-248).
test('a ring server killed under a running dashboard: its stream stays named unavailable after a walk, and the rates go on', async () => {
  const servers = await Promise.all([startRedis(), startRedis()])
  cleanups.push(() => Promise.all(servers.map((s) => s.stop())))
  const urls = servers.map((s) => s.url)
  // A namespace whose main stream and member list share a server: the one left up. (A sample
  // reads the members too, and fails whole when they are on the server that is down.)
  const probe = createFleet({ url: urls, namespace: 'probe' })
  cleanups.push(() => probe.close())
  const ring = await fleetContext(probe).redis()
  let namespace = ''
  let mainNode: string | undefined
  for (let i = 0; !namespace; i++) {
    const candidate = uniqueNamespace(`dash-stream-down-${i}`)
    mainNode = ring.nodeOf(`${candidate}:streams:events`)
    if (ring.nodeOf(`${candidate}:membership:live`) === mainNode) namespace = candidate
  }
  const fleet = createFleet({ url: urls, namespace, commandTimeout: 300, onError: () => {} })
  cleanups.push(() => fleet.close())
  const ctx = fleetContext(fleet)
  const topology = await ctx.redis()
  await fleet.streams().publish({ n: 1 })
  // A channel on the other server, the one to kill.
  let channel = ''
  for (let i = 0; !channel; i++) {
    if (topology.nodeOf(ctx.keys.key('streams', 'channel', `orders-${i}`)) !== mainNode)
      channel = `orders-${i}`
  }
  await fleet.streams().publishToChannel(channel, { n: 1 })
  const victim = servers.find((s) => mainNode !== `127.0.0.1:${s.port}/0`)!
  const dashboard = await startDashboard(fleet, {
    host: '127.0.0.1',
    port: 0,
    allowActions: false,
    interval: 200,
    keyspaceInterval: 200,
  })
  cleanups.push(() => dashboard.close())
  const status = async () => (await (await fetch(`${dashboard.url}status.json`)).json()) as Status
  assert.ok((await status()).streams?.some((s) => s.name === `streams:channel:${channel}`))

  await victim.kill()
  const name = `streams:channel:${channel}`
  // A walk that left the server out says so (`keys`); the stream stays named beside it.
  const seen = await waitUntil('a walk that left the server out', async () => {
    const now = await status()
    return now.unavailable?.some((u) => u.part === 'keys') ? now : undefined
  })
  assert.ok(
    seen.unavailable?.some((u) => u.part === 'streams' && u.error.startsWith(`${name}: `)),
    `${name} named unavailable: ${JSON.stringify(seen.unavailable)}`,
  )
  // The key counts of that walk are the other server's only: left out of /metrics, not served
  // as the fleet's (helper-250).
  const metrics = await (await fetch(`${dashboard.url}metrics`)).text()
  assert.match(metrics, /^redfleet_stream_group_lag|^redfleet_node_up/m)
  assert.doesNotMatch(metrics, /^redfleet_keys\{/m, metrics)
  // The rates are read from the streams the server that answers holds: samples, not gaps.
  await waitUntil('a rate sample after the server went down', async () => {
    const rates = (await (await fetch(`${dashboard.url}rates.json`)).json()) as {
      published: (number | null)[]
    }
    return typeof rates.published.at(-1) === 'number'
  })
})
