/**
 * A cluster master that dies stays on the dashboard, as down (`redfleet_node_up{node} 0`), while
 * the slot map still names it: the cluster client drops its connection at once, long before the
 * cluster declares the node failed, and a node missing from /metrics is no alert. Each transport
 * on a private 3-master cluster (no replicas: the dead master keeps its slots).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { startDashboard } from '../../src/dashboard/server.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { loadIORedis } from '../../src/topology/ioredis.ts'
import { command } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

await loadIORedis()

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

/** `redfleet_node_up` samples: node → value. */
async function nodesUp(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}metrics`)).text()
  const up: Record<string, number> = {}
  for (const match of text.matchAll(/^redfleet_node_up\{node="([^"]+)"\} (\d+)$/gm))
    up[match[1]!] = Number(match[2])
  return up
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a dead cluster master stays on /metrics and /status.json as down`, async () => {
    const cluster = await startCluster()
    cleanups.push(() => cluster.stop())
    const fleet: Fleet = createFleet({
      url: cluster.urls,
      cluster: true,
      transport,
      namespace: uniqueNamespace('node-down'),
      commandTimeout: 500,
    })
    cleanups.push(() => fleet.close())
    const dashboard = await startDashboard(fleet, {
      host: '127.0.0.1',
      port: 0,
      allowActions: false,
      interval: 500,
    })
    cleanups.push(() => dashboard.close())
    const ids = cluster.servers.map((s) => `127.0.0.1:${s.port}`).sort()
    assert.deepEqual(await nodesUp(dashboard.url), Object.fromEntries(ids.map((id) => [id, 1])))

    const victim = cluster.servers[1]!
    const dead = `127.0.0.1:${victim.port}`
    await command(victim.port, 'SHUTDOWN', 'NOSAVE').catch(() => undefined)
    // Well within the cluster's node-timeout (5 s) and past it: every read lists all three.
    const seen: string[] = []
    for (const until = Date.now() + 8000; Date.now() < until; ) {
      const up = await nodesUp(dashboard.url)
      assert.deepEqual(Object.keys(up).sort(), ids, `every node on /metrics (${JSON.stringify(up)})`)
      seen.push(`${up[dead]}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    // The first reads may still have the node's INFO from before the shutdown (how many depends
    // on the machine's load); once down it stays down.
    const down = seen.indexOf('0')
    assert.ok(
      down !== -1 && seen.slice(down).every((v) => v === '0'),
      `the dead master is down: ${seen.join(',')}`,
    )
    const status = (await (await fetch(`${dashboard.url}status.json`)).json()) as {
      nodes: { id: string; up: boolean; error?: string }[]
    }
    const node = status.nodes.find((n) => n.id === dead)
    assert.ok(
      node && !node.up && node.error,
      `status.json says ${dead} is down: ${JSON.stringify(status.nodes)}`,
    )
    assert.deepEqual(
      status.nodes.filter((n) => n.up).map((n) => n.id),
      ids.filter((id) => id !== dead),
    )
  })
}
