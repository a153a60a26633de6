/**
 * What the broker does on the servers, seen from the servers: on the ring a channel is
 * subscribed on exactly one shard; on the cluster it is a sharded channel (SSUBSCRIBE) on the
 * master of its slot; several local listeners share one subscription; the last one to leave
 * unsubscribes.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet, type Fleet } from '../../src/index.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const fleets: Fleet[] = []
const clients: Redis[] = []
after(async () => {
  await Promise.all(fleets.map((f) => f.close()))
  for (const c of clients) c.disconnect()
})

function direct(url: string): Redis {
  const client = new Redis(url)
  clients.push(client)
  return client
}

/** Subscribers of `channel` on each server: [plain, sharded]. */
async function counts(servers: Redis[], channel: string): Promise<[number, number][]> {
  return Promise.all(
    servers.map(async (server) => {
      const plain = (await server.call('PUBSUB', 'NUMSUB', channel)) as [string, number]
      const sharded = (await server.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number]
      return [Number(plain[1]), Number(sharded[1])] as [number, number]
    }),
  )
}

for (const topology of ['sharded', 'cluster'] as const) {
  test(`[${topology}] a channel lives on one node; the last local listener leaving unsubscribes it`, async () => {
    const servers = await testServers()
    const urls = topology === 'sharded' ? servers.shards : servers.cluster
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: urls, cluster: topology === 'cluster', namespace })
    fleets.push(fleet)
    const nodes = urls.map(direct)
    // One hash tag for every channel of this test: they all share a node, so a confirmed
    // SUBSCRIBE of a later channel proves that earlier UNSUBSCRIBEs on that connection were applied.
    const tag = `{${namespace}}`
    const channel = `${namespace}:broker:${tag}main`
    const sync = async (name: string) => {
      const broker = fleet.broker({ channel: `${tag}${name}` })
      broker.subscribe(() => {})
      await broker.ready()
    }

    const broker = fleet.broker({ channel: `${tag}main` })
    const stop1 = broker.subscribe(() => {})
    const stop2 = broker.subscribe(() => {})
    await broker.ready()
    const mode = topology === 'cluster' ? 1 : 0 // cluster: sharded pub/sub only
    const otherMode = (1 - mode) as 0 | 1
    const subscribed = await counts(nodes, channel)
    assert.equal(
      subscribed.filter(([plain, sharded]) => plain + sharded > 0).length,
      1,
      'on exactly one node',
    )
    assert.equal(
      subscribed.reduce((sum, c) => sum + c[mode], 0),
      1,
      `two local listeners, one ${mode ? 'SSUBSCRIBE' : 'SUBSCRIBE'}`,
    )
    assert.equal(
      subscribed.reduce((sum, c) => sum + c[otherMode], 0),
      0,
      'nothing on the other kind of pub/sub',
    )

    stop1()
    await sync('sync-1')
    assert.equal(
      (await counts(nodes, channel)).reduce((sum, c) => sum + c[mode], 0),
      1,
      'one listener left',
    )
    stop2()
    await sync('sync-2')
    assert.deepEqual(
      await counts(nodes, channel),
      nodes.map(() => [0, 0]),
      'the last listener left: unsubscribed on the server',
    )
  })
}
