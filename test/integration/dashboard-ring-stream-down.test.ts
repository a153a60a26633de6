/**
 * A running dashboard of a ring with one server killed keeps naming the streams that server
 * holds as unavailable, walk after walk of the keyspace (which cannot see them), instead of
 * dropping them from the page (README: "it shows the rest and lists the parts it could not
 * read"); and its rate charts go on from the streams it can read (helper-247, helper-248).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { startDashboard } from '../../src/dashboard/server.ts'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet } from '../../src/index.ts'
import { waitUntil } from '../harness/faults.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

interface Status {
  streams?: { name: string }[]
  unavailable?: { part: string; error: string }[]
}

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
  // The rates are read from the streams the server that answers holds: samples, not gaps.
  await waitUntil('a rate sample after the server went down', async () => {
    const rates = (await (await fetch(`${dashboard.url}rates.json`)).json()) as {
      published: (number | null)[]
    }
    return typeof rates.published.at(-1) === 'number'
  })
})
