/**
 * An operator command on a cluster whose state is fail (a master down, no replica to take its
 * slots): Redis refuses every command with "CLUSTERDOWN The cluster is down", which names no
 * node. The command's reason says which masters the cluster marks as failing (helper-228: the
 * CLI printed Redis' words alone, and the operator could not tell which master to look at).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { command, info, waitUntil } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { assertOneLine, cli, printed, start } from './cli-support.ts'

let cluster: Awaited<ReturnType<typeof startCluster>>
before(async () => {
  cluster = await startCluster()
})
after(() => cluster?.stop())

test('status on a cluster that is down names the master it marks as failing', async () => {
  const [first, second, victim] = cluster.servers
  // Noticed within a second rather than the harness' 5 s node timeout.
  for (const server of cluster.servers)
    await command(server.port, 'CONFIG', 'SET', 'cluster-node-timeout', 1000)
  await victim!.kill()
  await waitUntil('cluster_state:fail on the live masters', async () => {
    const states = await Promise.all([first!, second!].map((s) => info(s.port, 'cluster')))
    return states.every((state) => state.get('cluster_state') === 'fail')
  })
  const seeds = cluster.urls.slice(0, 2).join(',')
  const status = await cli(['status', '--url', seeds, '--cluster', '--namespace', uniqueNamespace('down')])
  assert.equal(status.code, 1, status.stdout)
  assertOneLine(status.stderr)
  const failing = `CLUSTERDOWN.*marks 127\\.0\\.0\\.1:${victim!.port} as failing`
  assert.match(status.stderr, new RegExp(failing))
  // A watch says it on every line it prints while the cluster is down (helper-230).
  const watch = start(['status', '--watch', '1', '--json', '--url', seeds, '--cluster'])
  try {
    await printed(watch.child, watch.output, /(.*\n){3}/)
    assert.match(watch.output(), new RegExp(`"error":"redfleet status: .*${failing}`))
  } finally {
    watch.child.kill('SIGINT')
    await watch.exited
  }
})
