/**
 * The near cache follows the topology (SPEC §3), on a 3-master + 3-replica cluster, while
 * another fleet (another process's connections) writes the key continuously:
 *
 * - 0 reads older than the invalidation bound (docs/cache.md: `connectTimeout + 2 ×
 *   commandTimeout`) through (a) a master SIGKILL + failover + the old master restarted (it
 *   rejoins as a replica), (b) a `CLUSTER FAILOVER`, (c) the key's slot moving to a master that
 *   appeared after the near cache started; after each fault the replicas are frozen, so that
 *   only the current masters' invalidations count;
 * - near hits keep being served for keys on the other masters while one master is down.
 *
 * "Older than the bound": a read that started at t returned write n while a later write had
 * been acknowledged before t - bound. The writer counts only acknowledged writes (a failsafe
 * write that returns true), and a master is killed only once its replica has every write
 * (WAIT), so a write lost in the failover is never mistaken for a stale read.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import calculateSlot from 'cluster-key-slot'
import { Redis } from 'ioredis'
import { type Cache, createFleet, type Fleet } from '../../src/index.ts'
import {
  type ClusterNode,
  command,
  fileFaultCluster,
  info,
  waitForRole,
  waitUntil,
} from '../harness/faults.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const connectTimeout = 1000
const commandTimeout = 500
/** The documented invalidation bound, from the fleets' own options. */
const BOUND = connectTimeout + 2 * commandTimeout
/** The writers' pace: every write invalidates the near cache, reads in between can hit it. */
const WRITE_EVERY = 10

const { cluster, fleets } = fileFaultCluster()

function fleet(namespace: string): Fleet {
  const made = createFleet({
    url: cluster().urls,
    cluster: true,
    namespace,
    connectTimeout,
    commandTimeout,
    onError: () => {},
  })
  fleets.push(made)
  return made
}

/** Writes 1, 2, 3... to `key` until stopped; remembers when each write was acknowledged. */
class Writer {
  readonly acked: { n: number; at: number }[] = []
  #n = 0
  #paused: Promise<void> | undefined
  #resume: (() => void) | undefined
  #stopped = false
  readonly #done: Promise<void>

  constructor(
    private readonly cache: Cache,
    private readonly key: string,
  ) {
    this.#done = this.#run()
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.#paused
      const n = ++this.#n
      if (await this.cache.write(this.key, n)) this.acked.push({ n, at: performance.now() })
      await sleep(WRITE_EVERY)
    }
  }

  /** The newest write acknowledged at or before `t`. */
  newestBy(t: number): number {
    let newest = 0
    for (const { n, at } of this.acked) if (at <= t) newest = Math.max(newest, n)
    return newest
  }

  /** Holds the next write; resolves once the one in flight has settled. */
  async pause(): Promise<void> {
    this.#paused = new Promise((resolve) => {
      this.#resume = resolve
    })
    await sleep(WRITE_EVERY + commandTimeout) // the write in flight settles within its timeout
  }

  resume(): void {
    this.#resume?.()
    this.#paused = undefined
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.resume()
    await this.#done
  }
}

/** Reads `key` through the near cache until stopped, recording when each read began and what it saw. */
class Reader {
  readonly reads: { at: number; value: unknown }[] = []
  #stopped = false
  readonly #done: Promise<void>

  constructor(
    readonly cache: Cache,
    private readonly key: string,
  ) {
    this.#done = this.#run()
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const at = performance.now()
      this.reads.push({ at, value: await this.cache.read(this.key) })
      await sleep(1)
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#done
  }
}

/** Reads that returned a value older than the bound allows. */
function staleReads(reader: Reader, writer: Writer): string[] {
  return reader.reads.flatMap(({ at, value }) => {
    if (typeof value !== 'number') return []
    const due = writer.newestBy(at - BOUND)
    return value < due
      ? [`at ${at.toFixed(0)} ms read ${value}, but ${due} was acknowledged ${BOUND} ms before`]
      : []
  })
}

/**
 * Runs `fault` while one fleet writes `key` and another reads it through its near cache, and
 * asserts that no read was older than the bound and that the near cache served hits throughout.
 */
async function throughFault(
  label: string,
  fault: (writer: Writer, key: string, step: (name: string) => void) => Promise<void>,
): Promise<void> {
  const namespace = uniqueNamespace('near-fault')
  const key = `hot{${label}}`
  const writer = new Writer(fleet(namespace).cache(), key)
  const near = fleet(namespace).cache({ near: { max: 1000 }, errorHandler: () => {} })
  const reader = new Reader(near, key)
  const steps: string[] = []
  try {
    await untilNearHits(near, 1)
    const before = near.stats().nearHits
    await fault(writer, key, (name) => steps.push(`${name} at ${performance.now().toFixed(0)} ms`))
    const during = near.stats().nearHits - before
    // Keep going past the bound after the fault: a missed invalidation would show by then.
    await sleep(2 * BOUND)
    await untilNearHits(near, near.stats().nearHits + 1)
    assert.ok(during + near.stats().nearHits - before > 0, 'the near cache served reads')
  } finally {
    await reader.stop()
    await writer.stop()
  }
  const stale = staleReads(reader, writer)
  assert.ok(reader.reads.length > 100, `${reader.reads.length} reads`)
  // A failure says when, among the fault's steps and the writes around it, the reads went stale.
  const around = (at: number) =>
    writer.acked.filter((w) => Math.abs(w.at - at) < BOUND).map((w) => `${w.n}@${w.at.toFixed(0)}`)
  const first = stale.length === 0 ? [] : around(Number(/^at (\d+)/.exec(stale[0]!)![1]))
  assert.deepEqual(
    stale.slice(0, 10),
    [],
    `${stale.length} of ${reader.reads.length} reads were stale; steps: ${steps.join(', ')}; ` +
      `writes acknowledged around the first: ${first.join(' ')}`,
  )
}

/** Waits (polling stats) until the near cache has served `n` hits in all. */
async function untilNearHits(cache: Cache, n: number): Promise<void> {
  const deadline = performance.now() + 10 * BOUND
  while (cache.stats().nearHits < n) {
    assert.ok(performance.now() < deadline, `the near cache served no hit within ${10 * BOUND} ms`)
    await sleep(5)
  }
}

/** The full Redis key of a cache key of this test (namespace:cache:key). */
function slotOf(key: string): number {
  return calculateSlot(key)
}

/**
 * Freezes every replica (SIGSTOP) for twice the bound while the writes go on. A demoted master
 * keeps sending invalidations for the writes it replicates, which would hide a near cache that
 * still tracks it instead of the new master; a frozen one sends nothing.
 */
async function freezeReplicas(): Promise<void> {
  const live = cluster().nodes.filter((n) => !n.down)
  const roles = await Promise.all(live.map((n) => info(n.port)))
  const replicas = live.filter((_, i) => roles[i]!.get('role') === 'slave')
  const pids = await Promise.all(
    replicas.map(async (n) => Number((await info(n.port, 'server')).get('process_id'))),
  )
  for (const pid of pids) process.kill(pid, 'SIGSTOP')
  try {
    await sleep(2 * BOUND)
  } finally {
    for (const pid of pids) process.kill(pid, 'SIGCONT')
  }
  await cluster().waitUntilOk()
}

/** Waits until every live node's CLUSTER NODES gives `node` the flag `role`. */
async function everyNodeSees(node: ClusterNode, role: 'master' | 'slave'): Promise<void> {
  await waitUntil(`every node to see ${node.port} as ${role}`, async () => {
    const live = cluster().nodes.filter((n) => !n.down)
    const views = await Promise.all(live.map((n) => command(n.port, 'CLUSTER', 'NODES')))
    return views.every((view) =>
      String(view)
        .split('\n')
        .some((line) => line.startsWith(node.id) && line.split(' ')[2]!.split(',').includes(role)),
    )
  })
}

/** Makes sure the replica of `master` has every write so far (WAIT after a write of our own). */
async function syncReplica(master: ClusterNode, tag: string): Promise<void> {
  const raw = new Redis({ host: '127.0.0.1', port: master.port, lazyConnect: true })
  raw.on('error', () => {})
  try {
    await raw.set(`sync{${tag}}`, '1')
    const acked = await raw.wait(1, 5000)
    assert.equal(acked, 1, 'the replica has every write before the kill')
  } finally {
    raw.disconnect()
  }
}

describe('near cache through faults of a 3+3 cluster', () => {
  test('(a) master SIGKILL, replica failover, old master restarted as a replica: no stale read', async () => {
    await throughFault('a', async (writer, key, step) => {
      const master = await cluster().masterOf(key)
      const replica = await cluster().replicaOf(master)
      await writer.pause()
      await syncReplica(master, 'a')
      step('kill')
      await cluster().kill(master)
      writer.resume()
      await waitForRole(replica, 'master')
      step('promoted')
      await cluster().waitUntilOk()
      // The old master comes back (empty: the harness persists nothing) and rejoins as a replica
      // of the new one.
      step('restart')
      await cluster().restart(master)
      step('rejoined')
      await freezeReplicas()
      step('replicas thawed')
    })
  })

  test('(b) CLUSTER FAILOVER of the key master: no stale read', async () => {
    await throughFault('b', async (_writer, key) => {
      const master = await cluster().masterOf(key)
      await cluster().failover(await cluster().replicaOf(master))
      await freezeReplicas()
    })
  })

  test("(c) the key's slot moves to a master that appeared since: no stale read", async () => {
    await throughFault('c', async (_writer, key) => {
      const master = await cluster().masterOf(key)
      const others = await Promise.all(
        ['x{1}', 'x{2}', 'x{3}', 'x{4}', 'x{5}'].map((k) => cluster().masterOf(k)),
      )
      const other = others.find((m) => m.port !== master.port)
      assert.ok(other, 'another master')
      // A master the near cache did not know when it started...
      const target = await cluster().replicaOf(other)
      await cluster().failover(target)
      // (moveSlot sends SETSLOT NODE to the masters of one node's view: let every view agree.)
      await everyNodeSees(other, 'slave')
      // ...takes the key's slot.
      await cluster().moveSlot(slotOf(key), target)
      await freezeReplicas()
    })
  })

  test('near hits keep coming for keys on the other masters while one master is down', async (t) => {
    const namespace = uniqueNamespace('near-down')
    const near = fleet(namespace).cache({ near: { max: 1000 }, errorHandler: () => {} })
    // One key per master: tags chosen so that each lands on a different one.
    const byMaster = new Map<number, string>()
    for (let i = 0; byMaster.size < 3 && i < 1000; i++) {
      const key = `k{${i}}`
      const master = await cluster().masterOf(`${namespace}:cache:${key}`)
      if (!byMaster.has(master.port)) byMaster.set(master.port, key)
    }
    assert.equal(byMaster.size, 3)
    for (const key of byMaster.values()) await near.write(key, key)
    const keys = [...byMaster.values()]
    const deadline = performance.now() + 10 * BOUND
    let hits = near.stats().nearHits
    for (;;) {
      for (const key of keys) await near.read(key)
      if (near.stats().nearHits - hits === keys.length) break
      assert.ok(performance.now() < deadline, 'every key is served by the near cache')
      hits = near.stats().nearHits
      await sleep(5)
    }
    const [victimPort, victimKey] = [...byMaster][0]!
    const victim = cluster().nodes.find((n) => n.port === victimPort)!
    const healthy = keys.filter((k) => k !== victimKey)
    // The victim stays down until the test restarts it: its replica does not take over (the
    // reads below could outlast a failover on a loaded machine, and then find the key served).
    const replica = await cluster().replicaOf(victim)
    await command(replica.port, 'CONFIG', 'SET', 'cluster-replica-no-failover', 'yes')
    await cluster().kill(victim)
    const before = near.stats().nearHits
    for (let i = 0; i < 50; i++) {
      for (const key of healthy) assert.equal(await near.read(key), key)
      await sleep(2)
    }
    assert.equal(near.stats().nearHits - before, 50 * healthy.length, 'every read of a healthy key hit')
    // And the victim's entry is not served from the near cache while it is down; its reads
    // fail at once (SPEC §8), not each after a reconnect attempt or a timeout.
    const victimHits = near.stats().nearHits
    await near.read(victimKey)
    assert.equal(near.stats().nearHits, victimHits, "the down master's entry was flushed")
    const times: number[] = []
    for (let i = 0; i < 21; i++) {
      const started = performance.now()
      assert.equal(await near.read(victimKey), undefined, 'a miss while its master is down')
      times.push(performance.now() - started)
    }
    times.sort((a, b) => a - b)
    t.diagnostic(
      `reads of the down master's key: median ${times[10]!.toFixed(2)} ms, max ${times[20]!.toFixed(2)} ms`,
    )
    assert.ok(times[10]! < commandTimeout, `median ${times[10]!.toFixed(2)} ms`)
    await cluster().restart(victim)
    await command(replica.port, 'CONFIG', 'SET', 'cluster-replica-no-failover', 'no')
  })

  test('(d) node-redis, the key master frozen (SIGSTOP) and taken over: no stale read past the bound', async () => {
    // node-redis reads the slot map from one master, with no deadline: a frozen one held back the
    // periodic ROLE checks, and its entries were served for as long as it stayed frozen.
    const namespace = uniqueNamespace('near-frozen')
    const key = 'frozen{3}'
    const full = `${namespace}:cache:${key}`
    const options = { url: cluster().urls, cluster: true, namespace, connectTimeout, commandTimeout }
    const readerFleet = createFleet({ ...options, transport: 'node-redis', onError: () => {} })
    fleets.push(readerFleet)
    const near = readerFleet.cache({ near: { max: 1000 }, errorHandler: () => {} })
    await fleet(namespace).cache().write(key, 'v1')
    const master = await cluster().masterOf(full)
    const replica = await cluster().replicaOf(master)
    await syncReplica(master, '3')
    const pid = Number((await info(master.port, 'server')).get('process_id'))
    const reader = new Reader(near, key)
    let written = Number.POSITIVE_INFINITY
    try {
      await untilNearHits(near, 1)
      process.kill(pid, 'SIGSTOP')
      await command(replica.port, 'CLUSTER', 'FAILOVER', 'TAKEOVER')
      await waitForRole(replica, 'master')
      // A raw string under the key reads back as itself.
      await command(replica.port, 'SET', full, 'v2')
      written = performance.now()
      await sleep(2 * BOUND)
    } finally {
      process.kill(pid, 'SIGCONT')
      await reader.stop()
    }
    await cluster().waitUntilOk()
    const late = reader.reads.filter(({ at }) => at > written + BOUND)
    assert.ok(late.length > 0, 'reads began after the bound')
    const stale = late.filter(({ value }) => value === 'v1')
    assert.equal(
      stale.length,
      0,
      `${stale.length} of ${late.length} reads after the bound returned the old value`,
    )
  })
})
