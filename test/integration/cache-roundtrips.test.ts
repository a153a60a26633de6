/**
 * `fetchMulti` of 1000 keys is one round trip per node for the reads (and one more per node for
 * the writes of the misses), on the 3-shard ring and on the 3-master cluster. The commands are
 * counted on the servers with MONITOR (only those naming this test's namespace, so other tests
 * running meanwhile do not count); round trips are counted on the client as pipelines sent.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Cluster, Redis } from 'ioredis'
import { createFleet, type FleetOptions } from '../../src/index.ts'
import { monitorServer } from '../harness/monitor.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** Every command naming `namespace` that each server runs, by server url. */
async function monitor(urls: string[], namespace: string) {
  const seen = new Map<string, string[][]>(urls.map((url) => [url, []]))
  const markers = new Map<string, () => void>()
  const monitors = await Promise.all(
    urls.map((url) =>
      monitorServer(url, (args) => {
        if (args[0] === 'echo' && args[1] === `${namespace}:marker`) markers.get(url)?.()
        else if (args.some((a) => a.includes(namespace))) seen.get(url)!.push(args)
      }),
    ),
  )
  const pingers = urls.map((url) => new Redis(url))
  cleanups.push(async () => {
    for (const m of monitors) m.destroy()
    for (const p of pingers) p.disconnect()
  })
  return {
    /** Waits until every server has shown us all it ran so far (MONITOR streams in order). */
    async settle(): Promise<Map<string, string[][]>> {
      await Promise.all(
        urls.map((url, i) => {
          const reached = new Promise<void>((resolve) => markers.set(url, resolve))
          return pingers[i]!.echo(`${namespace}:marker`).then(() => reached)
        }),
      )
      const snapshot = new Map([...seen].map(([url, commands]) => [url, [...commands]]))
      for (const list of seen.values()) list.length = 0
      return snapshot
    },
  }
}

/** Counts pipelines sent (one pipeline = one round trip to one node). */
function countPipelines(): { count(): number; reset(): void } {
  let count = 0
  const originals = [Redis.prototype, Cluster.prototype].map((proto) => {
    const original = proto.pipeline
    proto.pipeline = function (this: Redis & Cluster, ...args: Parameters<typeof original>) {
      count++
      return original.apply(this, args)
    } as typeof original
    return () => {
      proto.pipeline = original
    }
  })
  cleanups.push(async () => {
    for (const restore of originals) restore()
  })
  return {
    count: () => count,
    reset: () => {
      count = 0
    },
  }
}

async function run(label: string, options: FleetOptions, urls: string[]) {
  const namespace = uniqueNamespace(label)
  const fleet = createFleet({ ...options, namespace })
  cleanups.push(() => fleet.close())
  await fleet.ready()
  const cache = fleet.cache()
  const keys = Array.from({ length: 1000 }, (_, i) => `item:${i}`)
  const watch = await monitor(urls, namespace)
  const pipelines = countPipelines()

  // Cold: every key misses, is computed, and written back in one pipeline per node.
  const cold = await cache.fetchMulti(keys, {}, (key) => `value of ${String(key)}`)
  assert.equal(cold.size, 1000)
  const coldCommands = await watch.settle()
  const coldPipelines = pipelines.count()
  pipelines.reset()

  // Warm: every key hits; the reads alone.
  const warm = await cache.fetchMulti(keys, {}, () => assert.fail('no compute on a hit'))
  assert.deepEqual([...warm.values()], [...cold.values()])
  const warmCommands = await watch.settle()
  const warmPipelines = pipelines.count()
  return { coldCommands, coldPipelines, warmCommands, warmPipelines }
}

test('3-shard ring: fetchMulti of 1000 keys is one MGET per node, one round trip each', async () => {
  const { shards } = await testServers()
  const r = await run('ring', { url: shards }, shards)
  for (const url of shards) {
    const warm = r.warmCommands.get(url)!
    assert.deepEqual(
      warm.map((args) => args[0]),
      ['mget'],
      `${url}: one MGET for the warm read`,
    )
    assert.ok(warm[0]!.length > 200, 'carrying about a third of the keys')
    const cold = r.coldCommands.get(url)!
    assert.equal(cold[0]![0], 'mget')
    assert.ok(cold.slice(1).every((args) => args[0] === 'set'))
  }
  const keysRead = [...r.warmCommands.values()].reduce((sum, c) => sum + c[0]!.length - 1, 0)
  assert.equal(keysRead, 1000)
  assert.equal(r.warmPipelines, shards.length, 'one round trip per node for the reads')
  assert.equal(r.coldPipelines, 2 * shards.length, 'reads, then the writes of the misses')
})

test('3-master cluster: fetchMulti of 1000 keys is one pipeline of per-slot MGETs per node', async () => {
  const { cluster } = await testServers()
  const r = await run('cluster', { url: cluster, cluster: true }, cluster)
  let mgets = 0
  for (const url of cluster) {
    const warm = r.warmCommands.get(url)!
    assert.ok(warm.length > 0 && warm.every((args) => args[0] === 'mget'), `${url}: only MGETs`)
    mgets += warm.length
  }
  const keysRead = [...r.warmCommands.values()].flat().reduce((sum, args) => sum + args.length - 1, 0)
  assert.equal(keysRead, 1000, 'every key read once')
  assert.ok(mgets <= 1000, `${mgets} MGETs, one per slot`)
  assert.equal(r.warmPipelines, cluster.length, 'one round trip per master for the reads')
  assert.equal(r.coldPipelines, 2 * cluster.length, 'reads, then the writes of the misses')
})
