/**
 * The operator commands on a cluster with one master down (SPEC §9): what is on the healthy
 * masters can still be looked at (the cluster set not to require full coverage, as an operator
 * keeping the rest of a cluster serving does). `redfleet dlq list` of a channel on a healthy master answered
 * "cannot reach Redis at <the dead master>" before, since every command first checked every node.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { createFleet } from '../../src/index.ts'
import { command } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { assertOneLine, cli } from './cli-support.ts'

let cluster: Awaited<ReturnType<typeof startCluster>>
before(async () => {
  cluster = await startCluster()
})
after(() => cluster?.stop())

/** The slot ranges each master serves, by port. */
async function slotsByPort(): Promise<Map<number, [number, number][]>> {
  const slots = (await command(cluster.servers[0]!.port, 'CLUSTER', 'SLOTS')) as [
    number,
    number,
    [string, number],
  ][]
  const byPort = new Map<number, [number, number][]>()
  for (const [from, to, [, port]] of slots) byPort.set(port, [...(byPort.get(port) ?? []), [from, to]])
  return byPort
}

test('dlq list of a channel on a healthy master works while another master is down; a command needing it says so', async () => {
  const victim = cluster.servers[2]!
  const victimSlots = (await slotsByPort()).get(victim.port)!
  const keyOnVictim = (key: string) => {
    const slot = calculateSlot(key)
    return victimSlots.some(([from, to]) => slot >= from && slot <= to)
  }
  // The main stream on a healthy master, so that its groups are known with the victim down.
  let namespace = uniqueNamespace('cli-down')
  while (keyOnVictim(`${namespace}:streams:events`)) namespace = uniqueNamespace('cli-down')
  const onVictim = (name: string) => keyOnVictim(`${namespace}:streams:channel:${name}`)
  let channel = 'g0:dead'
  for (let i = 1; onVictim(channel); i++) channel = `g${i}:dead`
  // A group whose own dead-letter channel is on the victim.
  let lost = 'h0'
  for (let i = 1; !onVictim(`${lost}:dead`); i++) lost = `h${i}`
  const fleet = createFleet({ url: cluster.urls, cluster: true, namespace })
  try {
    // Not a dead-letter record: listed as an entry skipped, which is enough to see the command work.
    await fleet.streams().publishToChannel(channel, { n: 1 })
    await fleet.streams().ensureGroup(lost)
    await fleet.streams().publishToChannel(`${lost}:dead`, { n: 1 })
  } finally {
    await fleet.close()
  }
  // The healthy masters keep serving their slots however long the test takes: with full coverage
  // required the cluster would refuse everything (CLUSTERDOWN) once node-timeout passed.
  await Promise.all(
    cluster.servers.map((s) => command(s.port, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no')),
  )
  await victim.kill()
  const seeds = cluster.urls.slice(0, 2).join(',')
  const listed = await cli(['dlq', 'list', channel, '--url', seeds, '--cluster', '--namespace', namespace])
  assert.equal(listed.code, 0, listed.stderr)
  assert.match(listed.stdout, new RegExp(`dead letters in '${channel}': 0 \\(1 entry skipped`))
  // A listing of every master: it fails naming the dead one, or (once the cluster marked it
  // failed and ioredis' slot map no longer has it) lists what the live ones hold.
  const orphans = await cli(['orphans', '--url', seeds, '--cluster', '--namespace', namespace])
  if (orphans.code !== 0) {
    assert.equal(orphans.code, 1, orphans.stderr)
    assert.match(orphans.stderr, new RegExp(`127\\.0\\.0\\.1:${victim.port}|CLUSTERDOWN`))
    assertOneLine(orphans.stderr)
  }
  // status shows what the healthy masters hold and names what it could not read: the victim's
  // keys, and the group's dead-letter channel there (not "dead letters: none" without a word).
  const status = await cli(['status', '--json', '--url', seeds, '--cluster', '--namespace', namespace])
  assert.equal(status.code, 1, status.stderr)
  const { unavailable } = JSON.parse(status.stdout) as { unavailable: { part: string; error: string }[] }
  const parts = unavailable.map((u) => `${u.part}: ${u.error}`)
  assert.ok(
    parts.some((p) => p.startsWith('keys: ') && p.includes(`:${victim.port}`)),
    `the victim's keys named: ${parts.join('; ')}`,
  )
  assert.ok(
    parts.some((p) => p.startsWith(`streams: streams:channel:${lost}:dead`)),
    `the group's dead-letter channel named: ${parts.join('; ')}`,
  )
})
