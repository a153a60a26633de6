/**
 * Multi-node cache calls (readMulti, writeMulti, deleteMulti: one pipeline per master) on an
 * ioredis Cluster with a master that does not answer:
 * - a stopped (frozen) master, no replica to take over, `cluster-require-full-coverage yes`: the
 *   cluster's state turns fail and the healthy masters refuse with CLUSTERDOWN. ioredis sends a
 *   refused pipeline again once its slot map is re-read, and each re-read waits up to
 *   slotsRefreshTimeout on the frozen master: a call took seconds. It must settle within a bound
 *   of the fleet's timeouts, and a failsafe cache return its fallback as quickly.
 * - a killed master, `cluster-require-full-coverage no`, not yet known down: ioredis drops its
 *   connection while the slot map still names it, and its part of a pipeline bounced between the
 *   other masters (MOVED) until ioredis gave up. The call must say the node is unreachable, with
 *   an outcome (SPEC §8), not hand back the raw MOVED.
 * Each runs on a private 3-master cluster without replicas, since it stops a master for good.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import {
  type Cache,
  CommandError,
  ConnectionError,
  createFleet,
  type Fleet,
  type FleetOptions,
  RedfleetError,
} from '../../src/index.ts'
import { command, info, waitUntil } from '../harness/faults.ts'
import { type RedisServer, startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

type TestCluster = Awaited<ReturnType<typeof startCluster>>

let fullCoverage: TestCluster
let partialCoverage: TestCluster
const fleets: Fleet[] = []
before(async () => {
  ;[fullCoverage, partialCoverage] = await Promise.all([startCluster(), startCluster()])
  await Promise.all(
    partialCoverage.servers.map((s) =>
      command(s.port, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no'),
    ),
  )
})
after(async () => {
  await Promise.all(fleets.map((f) => f.close()))
  await Promise.all([fullCoverage?.stop(), partialCoverage?.stop()])
})

const COMMAND_TIMEOUT = 300
const CONNECT_TIMEOUT = 500

/**
 * How long one attempt of a call may take while a master does not answer: a connect, and a
 * command sent twice (README, "Retry": a refusal is tried again within commandTimeout).
 */
const ATTEMPT_BOUND = CONNECT_TIMEOUT + 2 * COMMAND_TIMEOUT

function fleetOn(cluster: TestCluster, options: Partial<FleetOptions> = {}): Fleet {
  const fleet = createFleet({
    url: cluster.urls,
    cluster: true,
    namespace: uniqueNamespace(),
    commandTimeout: COMMAND_TIMEOUT,
    connectTimeout: CONNECT_TIMEOUT,
    onError: () => {},
    ...options,
  })
  fleets.push(fleet)
  return fleet
}

/** A cache whose failures reject the call (Rails' failure-raising mode), not return fallbacks. */
function raisingCache(fleet: Fleet): Cache {
  return fleet.cache({
    errorHandler: ({ exception }) => {
      throw exception
    },
  })
}

/** The port of the master serving each slot, as `server` sees it. */
async function slotMasters(server: RedisServer): Promise<(slot: number) => number> {
  const ranges = (await command(server.port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
  return (slot) => {
    const range = ranges.find(([from, to]) => from <= slot && slot <= to)
    assert.ok(range, `slot ${slot} has an owner`)
    return range[2][1]
  }
}

/**
 * Cache keys with a hash tag (the namespace prefix does not change their slot), `perMaster` on
 * each master `which` accepts, by its port.
 */
async function keysOn(
  cluster: TestCluster,
  which: (port: number) => boolean,
  perMaster = 3,
): Promise<{ keys: string[]; masters: Set<number> }> {
  const masterOf = await slotMasters(cluster.servers[0]!)
  const counts = new Map<number, number>()
  const keys: string[] = []
  for (let i = 0; keys.length < perMaster * cluster.servers.filter((s) => which(s.port)).length; i++) {
    const port = masterOf(calculateSlot(`t${i}`))
    if (!which(port) || (counts.get(port) ?? 0) >= perMaster) continue
    counts.set(port, (counts.get(port) ?? 0) + 1)
    keys.push(`{t${i}}k`)
  }
  return { keys, masters: new Set(counts.keys()) }
}

/** Runs `call` and returns how long it took and what it settled with. */
async function timed<T>(
  call: () => Promise<T>,
): Promise<{ ms: number; value?: T; error?: unknown; failed: boolean }> {
  const started = performance.now()
  try {
    const value = await call()
    return { ms: performance.now() - started, value, failed: false }
  } catch (error) {
    return { ms: performance.now() - started, error, failed: true }
  }
}

test('cluster_state:fail with a stopped master: readMulti and writeMulti on the healthy masters settle within connectTimeout + 2 × commandTimeout', async (t) => {
  const victim = fullCoverage.servers[2]!
  const { keys, masters } = await keysOn(fullCoverage, (port) => port !== victim.port)
  assert.equal(masters.size, 2, 'the keys are spread over both healthy masters')
  // One attempt: the bound is about what one try takes, not the retry policy's patience.
  const fleet = fleetOn(fullCoverage, { retry: { attempts: 1 } })
  const raising = raisingCache(fleet)
  const failsafe = fleet.cache()
  await raising.writeMulti(Object.fromEntries(keys.map((key) => [key, 1])))

  // Stopped: the process holds its connections and answers nothing (DEBUG SLEEP, until killed).
  const frozen = command(victim.port, 'DEBUG', 'SLEEP', 3600).catch(() => undefined)
  t.after(async () => {
    await victim.kill()
    await frozen
  })
  const healthy = fullCoverage.servers.filter((s) => s !== victim)
  await waitUntil('cluster_state:fail on the healthy masters', async () => {
    const views = await Promise.all(healthy.map((s) => info(s.port, 'cluster')))
    return views.every((v) => v.get('cluster_state') === 'fail')
  })

  const entries = Object.fromEntries(keys.map((key) => [key, 2]))
  for (const [what, call] of [
    ['readMulti', () => raising.readMulti(keys)],
    ['writeMulti', () => raising.writeMulti(entries)],
  ] as const) {
    const { ms, error, failed } = await timed<unknown>(call)
    t.diagnostic(`${what}: ${ms.toFixed(0)} ms, ${String(error)}`)
    assert.ok(failed, `${what} failed while the cluster is down`)
    assert.ok(error instanceof RedfleetError, `${what}: a typed error: ${String(error)}`)
    assert.ok(ms <= ATTEMPT_BOUND, `${what} settled in ${ms.toFixed(0)} ms, over ${ATTEMPT_BOUND} ms`)
  }

  const read = await timed(() => failsafe.readMulti(keys))
  t.diagnostic(`failsafe readMulti: ${read.ms.toFixed(0)} ms`)
  assert.deepEqual(read.value, new Map(), 'the failsafe read returns its fallback')
  assert.ok(read.ms <= ATTEMPT_BOUND, `failsafe readMulti took ${read.ms.toFixed(0)} ms`)
  const write = await timed(() => failsafe.writeMulti(entries))
  t.diagnostic(`failsafe writeMulti: ${write.ms.toFixed(0)} ms`)
  assert.equal(write.value, false, 'the failsafe write returns its fallback')
  assert.ok(write.ms <= ATTEMPT_BOUND, `failsafe writeMulti took ${write.ms.toFixed(0)} ms`)
})

/** What a multi-node call fails with while a master it needs is dead: its node, and an outcome. */
function unreachable(error: unknown, node: string, outcome: 'unknown' | 'not-applied' | 'its own'): true {
  assert.ok(!(error instanceof CommandError), `not a raw redirection: ${String(error)}`)
  assert.ok(error instanceof ConnectionError, `a ConnectionError or NodeDownError: ${String(error)}`)
  assert.doesNotMatch(error.message, /^[^:]*: MOVED|^MOVED/)
  assert.match(error.message, new RegExp(`${node.replace(/\./g, '\\.')}.*(unreachable|down)`))
  if (outcome !== 'its own') assert.equal(error.outcome, outcome)
  return true
}

test('cluster-require-full-coverage no, a master killed and not yet known down: multi-node calls fail naming it unreachable, with an outcome, never with a raw MOVED', async (t) => {
  const victim = partialCoverage.servers[2]!
  const node = `127.0.0.1:${victim.port}`
  const spread = await keysOn(partialCoverage, () => true)
  assert.equal(spread.masters.size, 3, 'the keys are spread over every master')
  const onVictim = await keysOn(partialCoverage, (port) => port === victim.port)
  const fleet = fleetOn(partialCoverage)
  const raising = raisingCache(fleet)
  await raising.writeMulti(Object.fromEntries([...spread.keys, ...onVictim.keys].map((key) => [key, 1])))

  await victim.kill()
  // Right away: its connection is lost, and the fleet saw one failure, not yet enough to know it down.
  const calls = [
    [
      'writeMulti',
      () => raising.writeMulti(Object.fromEntries(spread.keys.map((key) => [key, 2]))),
      'unknown',
    ],
    // A read changed nothing: its failure is told as the dead master's part failed.
    ['readMulti', () => raising.readMulti(spread.keys), 'its own'],
    ['deleteMulti', () => raising.deleteMulti(spread.keys), 'unknown'],
    // Only the dead master's keys: nothing was sent anywhere.
    [
      'writeMulti (its keys only)',
      () => raising.writeMulti(Object.fromEntries(onVictim.keys.map((key) => [key, 2]))),
      'not-applied',
    ],
  ] as const
  for (const [what, call, outcome] of calls) {
    const { ms, error, failed } = await timed<unknown>(call)
    t.diagnostic(
      `${what}: ${ms.toFixed(0)} ms, ${String(error)} (outcome ${String((error as ConnectionError)?.outcome)})`,
    )
    assert.ok(failed, `${what} failed while a master it needs is dead`)
    unreachable(error, node, outcome)
  }
})
