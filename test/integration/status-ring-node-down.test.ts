/**
 * The operator's view of a ring with one node down: `status`, `/status.json`, `/metrics` and the
 * overview show what the nodes that answer hold and name the parts that could not be read. They
 * answered nothing at all (a 503, the node gauges only, `status` exit 1 with no snapshot), though
 * two thirds of the fleet was there to see.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Redis } from 'ioredis'
import { startDashboard } from '../../src/dashboard/server.ts'
import { createFleet } from '../../src/index.ts'
import { type FleetStatus, inspectFleet } from '../../src/inspect.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { cli, printed, start } from './cli-support.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

/** Whether the server at `url` holds `key`. */
async function holds(url: string, key: string): Promise<boolean> {
  const raw = new Redis(url)
  try {
    return (await raw.exists(key)) === 1
  } finally {
    raw.disconnect()
  }
}

test('a ring with one node down: status, /status.json, /metrics and the overview show the rest and name what is missing', async () => {
  const servers: RedisServer[] = await Promise.all([startRedis(), startRedis(), startRedis()])
  cleanups.push(() => Promise.all(servers.map((s) => s.stop())))
  const urls = servers.map((s) => s.url)
  const namespace = uniqueNamespace('ring-down')
  const writer = createFleet({ url: urls, namespace })
  cleanups.push(() => writer.close())
  const channelKey = (name: string) => `${namespace}:streams:channel:${name}`
  const holder = async (channel: string) => {
    for (const server of servers) if (await holds(server.url, channelKey(channel))) return server
    throw new Error(`${channel} on no node`)
  }
  // The node to stop holds ch0; channels are added until one lands elsewhere, whose channels must
  // still show. (Twelve fixed channels all missed a third of the ring now and then.)
  const onRest: string[] = []
  let victim: RedisServer | undefined
  for (let i = 0; onRest.length === 0 || i < 12; i++) {
    const channel = `ch${i}`
    await writer.streams().publishToChannel(channel, { n: 1 })
    const server = await holder(channel)
    victim ??= server
    if (server !== victim) onRest.push(channel)
  }
  await writer.streams().ensureGroup('billing')
  await writer.membership({ ttl: 60_000 }).heartbeat('web-1')
  const membersOnVictim = await holds(victim!.url, `${namespace}:membership:live`)
  const mainOnVictim = await holds(victim!.url, `${namespace}:streams:events`)

  const operator = createFleet({ url: urls, namespace, onError() {} })
  cleanups.push(() => operator.close())
  const dashboard = await startDashboard(operator, {
    host: '127.0.0.1',
    port: 0,
    allowActions: false,
    interval: 500,
  })
  cleanups.push(() => dashboard.close())
  await victim!.stop()

  const assertShowsTheRest = (
    status: Pick<FleetStatus, 'streams' | 'unavailable' | 'tracker'> & {
      members: (string | { id: string })[] | null
    },
    what: string,
  ) => {
    const names = status.streams.map((s) => s.name)
    for (const channel of onRest)
      assert.ok(names.includes(`streams:channel:${channel}`), `${what}: ${channel} in ${names}`)
    const parts = status.unavailable.map((u) => u.part)
    assert.equal(
      parts.includes('members'),
      membersOnVictim,
      `${what}: members unavailable only when its node is down`,
    )
    // A part not read is null, never an empty list or zeros. (The dashboard lists members with
    // their expiry.)
    const ids = status.members?.map((m) => (typeof m === 'string' ? m : m.id)) ?? null
    assert.deepEqual(ids, membersOnVictim ? null : ['web-1'])
    assert.equal(
      status.tracker === null,
      parts.includes('tracker'),
      `${what}: the tracker is null when not read`,
    )
    for (const u of status.unavailable)
      assert.match(u.error, /down|connect|ECONNREFUSED|closed/i, `${what}: ${u.error}`)
  }

  // The library's snapshot: the walk leaves the node out (its keys are named missing).
  const status = await inspectFleet(operator)
  assert.ok(
    status.unavailable.some((u) => u.part === 'keys'),
    JSON.stringify(status.unavailable),
  )
  assertShowsTheRest(status, 'inspectFleet')

  // The command prints it, names what is missing, and exits 1 (the snapshot is not whole).
  const run = await cli(['status', '--url', urls.join(','), '--namespace', namespace])
  assert.equal(run.code, 1, run.stderr)
  assert.match(run.stdout, /^unavailable: keys: /m)
  for (const channel of onRest) assert.match(run.stdout, new RegExp(`streams:channel:${channel}  length 1`))
  assert.match(run.stderr, /not all of the fleet could be read \(.*keys.*: unavailable\)/)

  // The dashboard: a snapshot, not a 503 (its walk, made before the stop, found every channel).
  const response = await fetch(`${dashboard.url}status.json`)
  assert.equal(response.status, 200)
  const snapshot = (await response.json()) as FleetStatus
  assertShowsTheRest(snapshot, '/status.json')
  const metrics = await (await fetch(`${dashboard.url}metrics`)).text()
  const lagGauge = /^redfleet_stream_group_lag\{stream="streams:events",group="billing"\} 0$/m
  assert.equal(lagGauge.test(metrics), !mainOnVictim, `the group's lag only when read: ${metrics}`)
  assert.equal(/^redfleet_members_live /m.test(metrics), !membersOnVictim, 'members: a gauge only when read')
  const page = await (await fetch(dashboard.url)).text()
  assert.match(page, /id="unavailable"/)

  // The dashboard command starts on it too (it had refused: not every node answered ready()).
  const served = start(['dashboard', '--url', urls.join(','), '--namespace', namespace, '--port', '0'])
  cleanups.push(async () => {
    served.child.kill('SIGINT')
    await served.exited
  })
  await printed(served.child, served.output, /redfleet dashboard on (http:\S+) /)
  const url = /redfleet dashboard on (http:\S+) /.exec(served.output())![1]!
  assert.equal((await fetch(`${url}status.json`)).status, 200)
})

test('a ring node down holding a group’s dead-letter channel: status and /status.json name it unavailable, once', async () => {
  const servers: RedisServer[] = await Promise.all([startRedis(), startRedis()])
  cleanups.push(() => Promise.all(servers.map((s) => s.stop())))
  const urls = servers.map((s) => s.url)
  const namespace = uniqueNamespace('ring-dead')
  const writer = createFleet({ url: urls, namespace })
  cleanups.push(() => writer.close())
  await writer.streams().publish({ n: 1 })
  const mainKey = `${namespace}:streams:events`
  const victim = (await holds(servers[0]!.url, mainKey)) ? servers[1]! : servers[0]!
  // Groups of the main stream (on the node that stays) whose dead-letter channel is on the other,
  // added until there is one.
  const onVictim: string[] = []
  for (let i = 0; onVictim.length === 0 || i < 12; i++) {
    const group = `g${i}`
    await writer.streams().ensureGroup(group)
    await writer.streams().publishToChannel(`${group}:dead`, { n: 1 })
    if (await holds(victim.url, `${namespace}:streams:channel:${group}:dead`)) onVictim.push(group)
  }

  const operator = createFleet({ url: urls, namespace, onError() {} })
  cleanups.push(() => operator.close())
  // Its walk, made before the stop, found every channel; the groups name them again.
  const dashboard = await startDashboard(operator, { host: '127.0.0.1', port: 0, allowActions: false })
  cleanups.push(() => dashboard.close())
  await victim.stop()

  const named = (unavailable: { part: string; error: string }[], group: string) =>
    unavailable.filter((u) => u.part === 'streams' && u.error.startsWith(`streams:channel:${group}:dead: `))
  const status = await inspectFleet(operator)
  for (const group of onVictim)
    assert.equal(named(status.unavailable, group).length, 1, JSON.stringify(status.unavailable))

  const run = await cli(['status', '--url', urls.join(','), '--namespace', namespace])
  assert.equal(run.code, 1, run.stderr)
  for (const group of onVictim)
    assert.match(run.stdout, new RegExp(`^unavailable: streams: streams:channel:${group}:dead: `, 'm'))

  const snapshot = (await (await fetch(`${dashboard.url}status.json`)).json()) as FleetStatus
  for (const group of onVictim)
    assert.equal(named(snapshot.unavailable, group).length, 1, JSON.stringify(snapshot.unavailable))
})
