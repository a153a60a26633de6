/**
 * A near cache in a namespace of its own (one per request, per tenant) starts a tracking for that
 * namespace: a control connection per master holding CLIENT TRACKING. Once every near cache of
 * the namespace is collected, the tracking stops and its connections close; the near caches
 * still alive keep theirs, and a new near cache of a collected namespace tracks again. Before,
 * the tracking lived as long as the fleet: a process making a near cache per request in a
 * namespace each reached the server's maxclients.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Cache, createFleet, type Fleet, type TopologyKind } from '../../src/index.ts'
import { untilNearHit as untilNearHitWithin } from '../harness/near-cache.ts'
import { socketsTo } from '../harness/sockets.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const COMMAND_TIMEOUT = 1000
/** Coming online takes the topology and a few commands per master: generous, for a loaded machine. */
const LINK_BOUND = 20 * COMMAND_TIMEOUT
/** Collection, then QUIT on each control connection (each bounded by a command timeout). */
const STOP_BOUND = 20 * COMMAND_TIMEOUT
/** An invalidation is one push message: it arrives well within one command timeout. */
const INVALIDATION_BOUND = COMMAND_TIMEOUT
/** Namespaces used by a near cache each, then dropped. */
const DROPPED = 5

const reported: string[] = []
const fleets: Fleet[] = []
after(() => Promise.all(fleets.map((fleet) => fleet.close())))

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

/** Collects garbage until this process has at most `count` sockets to `ports`, within STOP_BOUND. */
async function untilSocketsAtMost(ports: ReadonlySet<number>, count: number, what: string): Promise<void> {
  const deadline = Date.now() + STOP_BOUND
  while (socketsTo(ports).length > count) {
    if (Date.now() > deadline) assert.ok(socketsTo(ports).length <= count, what)
    gc()
    await turn()
    await sleep(10)
  }
}

async function portsOf(topology: TopologyKind): Promise<{ ports: Set<number>; masters: number }> {
  const options = await topologyOptions(topology)
  const urls = [options.url ?? []].flat()
  // A cluster's masters are its three nodes (no replicas in the test cluster).
  return { ports: new Set(urls.map((url) => Number(new URL(url).port))), masters: urls.length }
}

for (const topology of ['standalone', 'sharded', 'cluster'] as const) {
  describe(`near caches collected [${topology}]`, () => {
    test("the last near cache of a namespace collected closes its tracking's connections", async () => {
      const { ports, masters } = await portsOf(topology)
      const fleet = createFleet({
        ...(await topologyOptions(topology)),
        namespace: uniqueNamespace('near-gc'),
        commandTimeout: COMMAND_TIMEOUT,
        onError: (error, { op }) => void reported.push(`${op}: ${String(error)}`),
      })
      fleets.push(fleet)
      const kept = fleet.cache({ namespace: 'kept', near: { max: 10 } })
      await online(kept, 'k')
      const before = socketsTo(ports).length

      const names = Array.from({ length: DROPPED }, (_, i) => `request-${i}`)
      await useAndDrop(fleet, names)
      // Data connections to masters the kept cache's key did not need may have opened too.
      const used = socketsTo(ports).length
      assert.ok(used >= before + DROPPED * masters, 'a control connection per master each')
      await untilSocketsAtMost(
        ports,
        used - DROPPED * masters,
        'the dropped near caches’ control connections are closed',
      )

      // The near cache still held is still kept coherent: a change by another client evicts it.
      const other = createFleet({ ...(await topologyOptions(topology)), namespace: fleet.namespace })
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
