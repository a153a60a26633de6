/**
 * A near cache in a namespace of its own (one per request, per tenant) starts a tracking for that
 * namespace: a control connection per master holding CLIENT TRACKING. Once every near cache of
 * the namespace is collected, the tracking stops and its connections close; the near caches
 * still alive keep theirs, and a new near cache of a collected namespace tracks again. Before,
 * the tracking lived as long as the fleet: a process making a near cache per request in a
 * namespace each reached the server's maxclients.
 *
 * A tracking that stops unsubscribes `__redis__:invalidate` on the fleet's subscriber, and a
 * broker's last unsubscribe on a node unsubscribes its channel there: neither may stop the
 * other's messages (on a cluster, plain and sharded subscriptions shared one connection per
 * node, and ioredis left subscriber mode when either kind's count reached 0).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, type TestContext, test } from 'node:test'
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises'
import { promisify } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Broker, type Cache, createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
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
after(() => Promise.all(stops.map((stop) => stop())))

/**
 * A fleet on `options` closed when the test ends: the next test starts with no tracking of an
 * earlier one (which a collection might stop while it counts).
 */
function fleetFor(t: TestContext, options: FleetOptions): Fleet {
  const fleet = createFleet({
    commandTimeout: COMMAND_TIMEOUT,
    ...options,
    onError: (error, { op }) => void reported.push(`${op}: ${String(error)}`),
  })
  t.after(() => fleet.close())
  return fleet
}

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

/** Brokers on enough channels that every node has some (30 channels over 3 masters). */
const CHANNELS = Array.from({ length: 30 }, (_, i) => `ch-${i}`)

/** Subscribes one listener per channel of CHANNELS on `fleet`; each channel's messages go to `got`. */
async function subscribeAll(fleet: Fleet, got: Map<string, string[]>): Promise<(() => void)[]> {
  const brokers: Broker[] = CHANNELS.map((channel) => fleet.broker({ channel }))
  const unsubscribes = brokers.map((broker, i) =>
    broker.subscribe((message) => got.set(CHANNELS[i]!, [...(got.get(CHANNELS[i]!) ?? []), message])),
  )
  await Promise.all(brokers.map((broker) => broker.ready()))
  return unsubscribes
}

/** Until the servers count no subscriber of the fleet's broker channels (sharded on a cluster). */
async function untilUnsubscribed(
  ports: readonly number[],
  namespace: string,
  cluster: boolean,
): Promise<void> {
  const channels = CHANNELS.map((channel) => `${namespace}:broker:${channel}`)
  const deadline = Date.now() + STOP_BOUND
  for (;;) {
    const replies = await Promise.all(
      ports.map((port) =>
        run('redis-cli', ['-p', String(port), 'PUBSUB', cluster ? 'SHARDNUMSUB' : 'NUMSUB', ...channels]),
      ),
    )
    const counts = replies.flatMap(({ stdout }) =>
      stdout
        .trim()
        .split('\n')
        .filter((_, i) => i % 2 === 1),
    )
    if (counts.every((count) => count === '0')) return
    assert.ok(Date.now() < deadline, 'the brokers unsubscribed')
    await sleep(10)
  }
}

/** Reads `key` through `cache` until it answers `expected`, within INVALIDATION_BOUND. */
async function untilReads(cache: Cache, key: string, expected: unknown, what: string): Promise<void> {
  const deadline = Date.now() + INVALIDATION_BOUND
  while (JSON.stringify(await cache.read(key)) !== JSON.stringify(expected)) {
    assert.ok(Date.now() < deadline, what)
    await turn()
  }
}

for (const topology of ['standalone', 'sharded', 'cluster'] as const) {
  describe(`near caches collected [${topology}]`, () => {
    test("the last near cache of a namespace collected closes its tracking's connections", async (t) => {
      const { options, ports } = setups[topology]!
      const masters = ports.length
      const fleet = fleetFor(t, { ...options, namespace: uniqueNamespace('near-gc') })
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
      const other = fleetFor(t, { ...options, namespace: fleet.namespace })
      await other.cache({ namespace: 'kept' }).write('k', { v: 2 })
      await untilReads(kept, 'k', { v: 2 }, 'the kept near cache still hears invalidations')

      // A namespace whose tracking stopped tracks again with its next near cache.
      const again = fleet.cache({ namespace: names[0], near: { max: 10 } })
      await online(again, 'k2')
      await other.cache({ namespace: names[0] }).write('k2', { v: 2 })
      await untilReads(again, 'k2', { v: 2 }, 'the new near cache hears invalidations')
    })

    test("a broker's last unsubscribe on a node leaves the near cache's invalidations flowing", async (t) => {
      const { options, ports } = setups[topology]!
      const namespace = uniqueNamespace('modes-a')
      const [fleet, other] = [fleetFor(t, { ...options, namespace }), fleetFor(t, { ...options, namespace })]
      const near = fleet.cache({ near: { max: 10 } })
      const keys = ['a', 'b', 'c', 'd', 'e', 'f']
      for (const key of keys) await online(near, key)
      for (const unsubscribe of await subscribeAll(fleet, new Map())) unsubscribe()
      await untilUnsubscribed(ports, namespace, topology === 'cluster')
      for (const key of keys) {
        await other.cache().write(key, { v: 2 })
        await untilReads(near, key, { v: 2 }, `another fleet's write of '${key}' evicted it`)
      }
    })

    test("a near cache's tracking that stops leaves the broker's messages flowing", async (t) => {
      const { options, ports } = setups[topology]!
      const namespace = uniqueNamespace('modes-b')
      const [fleet, other] = [fleetFor(t, { ...options, namespace }), fleetFor(t, { ...options, namespace })]
      const got = new Map<string, string[]>()
      await subscribeAll(fleet, got)
      await useAndDrop(fleet, ['gone'])
      // The earlier tests' fleets closed with them: the only tracking was this one.
      await untilTracking(ports, 0, STOP_BOUND, 'the dropped near cache’s tracking stopped')
      await Promise.all(CHANNELS.map((channel) => other.broker({ channel }).publish(`to ${channel}`)))
      const deadline = Date.now() + INVALIDATION_BOUND
      while (CHANNELS.some((channel) => !got.get(channel)?.includes(`to ${channel}`))) {
        const missing = CHANNELS.filter((channel) => !got.get(channel)?.includes(`to ${channel}`))
        assert.ok(
          Date.now() < deadline,
          `every channel still hears its messages; missing: ${missing.join(', ')}`,
        )
        await sleep(5)
      }
    })
  })
}
