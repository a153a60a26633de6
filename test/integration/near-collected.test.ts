/**
 * A near cache in a namespace of its own (one per request, per tenant) starts a tracking for that
 * namespace: a control connection per master holding CLIENT TRACKING. Once every near cache of
 * the namespace is collected, the tracking stops and its connections close; the near caches
 * still alive keep theirs, and a new near cache of a collected namespace tracks again. Before,
 * the tracking lived as long as the fleet: a process making a near cache per request in a
 * namespace each reached the server's maxclients.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises'
import { promisify } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Cache, createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { untilNearHit as untilNearHitWithin } from '../harness/near-cache.ts'
import { startCluster, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const run = promisify(execFile)

const COMMAND_TIMEOUT = 1000
/** Coming online takes the topology and a few commands per master: generous, for a loaded machine. */
const LINK_BOUND = 20 * COMMAND_TIMEOUT
/** Collection, then QUIT on each control connection (each bounded by a command timeout). */
const STOP_BOUND = 20 * COMMAND_TIMEOUT
/** An invalidation is one push message: it arrives well within one command timeout. */
const INVALIDATION_BOUND = COMMAND_TIMEOUT
/** Namespaces used by a near cache each, then dropped. */
const DROPPED = 5

/** Servers of its own: the tracking connections counted on them are this file's alone. */
const stops: (() => Promise<void>)[] = []
const setups: Record<string, { options: FleetOptions; ports: number[] }> = {}
before(async () => {
  const [standalone, shards, cluster] = await Promise.all([
    startRedis(),
    Promise.all([startRedis(), startRedis(), startRedis()]),
    startCluster(),
  ])
  stops.push(standalone.stop, ...shards.map((shard) => shard.stop), cluster.stop)
  setups.standalone = { options: { url: standalone.url }, ports: [standalone.port] }
  setups.sharded = { options: { url: shards.map((s) => s.url) }, ports: shards.map((s) => s.port) }
  setups.cluster = {
    options: { url: cluster.urls, cluster: true },
    ports: cluster.servers.map((s) => s.port),
  }
})
const fleets: Fleet[] = []
after(async () => {
  await Promise.all(fleets.map((fleet) => fleet.close()))
  await Promise.all(stops.map((stop) => stop()))
})

const reported: string[] = []
const untilNearHit = (cache: Cache, key: string) => untilNearHitWithin(cache, key, LINK_BOUND, reported)

/** Writes `key` through `cache` and reads it until its near cache answers. */
async function online(cache: Cache, key: string): Promise<void> {
  await cache.write(key, { v: 1 })
  await untilNearHit(cache, key)
}

/** A near cache in each of `names`, online, then dropped (nothing here keeps them). */
async function useAndDrop(fleet: Fleet, names: readonly string[]): Promise<void> {
  for (const name of names) await online(fleet.cache({ namespace: name, near: { max: 10 } }), 'k')
}

/** The connections with CLIENT TRACKING on (flag t), summed over the servers on `ports`. */
async function trackingConnections(ports: readonly number[]): Promise<number> {
  const lists = await Promise.all(
    ports.map((port) => run('redis-cli', ['-p', String(port), 'CLIENT', 'LIST']).then((out) => out.stdout)),
  )
  return lists
    .flatMap((list) => list.split('\n'))
    .filter((line) => (/ flags=(\S*)/.exec(line)?.[1] ?? '').includes('t')).length
}

/** Until the servers count `count` tracking connections, within `ms`; collects garbage meanwhile. */
async function untilTracking(
  ports: readonly number[],
  count: number,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const now = await trackingConnections(ports)
    if (now === count) return
    if (Date.now() > deadline) assert.equal(now, count, what)
    gc()
    await turn()
    await sleep(10)
  }
}

for (const topology of ['standalone', 'sharded', 'cluster'] as const) {
  describe(`near caches collected [${topology}]`, () => {
    test("the last near cache of a namespace collected closes its tracking's connections", async () => {
      const { options, ports } = setups[topology]!
      const masters = ports.length
      const fleet = createFleet({
        ...options,
        namespace: uniqueNamespace('near-gc'),
        commandTimeout: COMMAND_TIMEOUT,
        onError: (error, { op }) => void reported.push(`${op}: ${String(error)}`),
      })
      fleets.push(fleet)
      const kept = fleet.cache({ namespace: 'kept', near: { max: 10 } })
      await online(kept, 'k')

      const names = Array.from({ length: DROPPED }, (_, i) => `request-${i}`)
      await useAndDrop(fleet, names)
      // Each namespace tracks on every master (its key's master is on by now, the others soon).
      await untilTracking(ports, (DROPPED + 1) * masters, LINK_BOUND, 'a tracking connection per master each')
      await untilTracking(
        ports,
        masters,
        STOP_BOUND,
        'the dropped near caches’ tracking connections are closed',
      )

      // The near cache still held is still kept coherent: a change by another client evicts it.
      const other = createFleet({ ...options, namespace: fleet.namespace })
      fleets.push(other)
      await other.cache({ namespace: 'kept' }).write('k', { v: 2 })
      const deadline = Date.now() + INVALIDATION_BOUND
      while (((await kept.read('k')) as { v: number }).v !== 2) {
        assert.ok(Date.now() < deadline, 'the kept near cache still hears invalidations')
        await turn()
      }

      // A namespace whose tracking stopped tracks again with its next near cache.
      const again = fleet.cache({ namespace: names[0], near: { max: 10 } })
      await online(again, 'k2')
      await other.cache({ namespace: names[0] }).write('k2', { v: 2 })
      const againDeadline = Date.now() + INVALIDATION_BOUND
      while (((await again.read('k2')) as { v: number }).v !== 2) {
        assert.ok(Date.now() < againDeadline, 'the new near cache hears invalidations')
        await turn()
      }
    })
  })
}
