/**
 * NodeRedisClusterTopology on a node-redis cluster driven by hand: the calls held for an opening
 * go out before a call made once node-redis counts the cluster open but before the opening
 * settled, even when a call between them was refused at once (its seeds known down): a refusal
 * holds nothing back (helper-248: it let the later call overtake). And its re-reads of the slot
 * map, one per interval, are spaced on the process's clock, not the wall clock (helper-308).
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mock, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { LAYOUT_PROBE_INTERVAL, NodeRedisClusterTopology } from '../../src/topology/node-redis-cluster.ts'
import { processClock } from '../../src/transport/deadlines.ts'

/** Lets every pending reaction and I/O callback run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

class FakeClient extends EventEmitter {
  isOpen = true
  isReady = true
  constructor(readonly sent: string[]) {
    super()
  }
  sendCommand(args: string[]) {
    this.sent.push(args.join(' '))
    return Promise.resolve(1)
  }
  duplicate() {
    return new FakeClient(this.sent)
  }
}

class FakeCluster extends EventEmitter {
  isOpen = false
  masters: unknown[] = []
  slots: unknown[] = []
  opened: (() => void) | undefined
  #connects = 0
  connect() {
    // The first opening fails (the seeds become known down); the next waits for the test.
    if (++this.#connects === 1) return Promise.reject(new Error('All the root nodes are unavailable'))
    return new Promise<void>((resolve) => {
      this.opened = resolve
    })
  }
  sendCommand(): never {
    throw new Error('not sent through the cluster client here')
  }
}

test('NodeRedisClusterTopology: a call refused at once while an opening holds others does not let a later call overtake them', async (t) => {
  mock.timers.enable({ apis: ['Date'] })
  // The probe interval is on the process's clock: here the faked Date, which the test ticks.
  const { now } = processClock
  processClock.now = () => Date.now()
  t.after(() => {
    processClock.now = now
    mock.timers.reset()
  })
  const sent: string[] = []
  const cluster = new FakeCluster()
  const topology = new NodeRedisClusterTopology(
    cluster as never,
    {
      connectTimeout: 2000,
      commandTimeout: 1000,
      reconnectAttempts: 3,
      poolSize: 1,
      onError: () => undefined,
    } as never,
  )
  t.after(() => topology.close().catch(() => undefined))
  // The first opening (in the constructor) fails: the seeds are known down.
  await turn()
  // Past the probe interval: the next call opens again (the probe), and is held for it.
  mock.timers.tick(1000)
  const route = topology.client('{ch}a')
  const held = route.publish('ch', 'P')
  // Refused at once: the seeds are known down and the probe is already under way.
  await assert.rejects(route.publish('ch', 'Q'))
  // node-redis counts the cluster open before its connect() settles.
  const client = new FakeClient(sent)
  const master = { address: '127.0.0.1:7000', host: '127.0.0.1', port: 7000, client }
  cluster.isOpen = true
  cluster.masters = [master]
  cluster.slots = new Array(16384).fill({ master })
  const later = route.publish('ch', 'S')
  cluster.opened!()
  await Promise.all([held, later])
  assert.deepEqual(
    sent.filter((command) => command.startsWith('PUBLISH')),
    ['PUBLISH ch P', 'PUBLISH ch S'],
  )
})

/** A cluster open from the start, one master answering, counting the slot map's re-reads. */
class OpenCluster extends EventEmitter {
  isOpen = true
  rediscovers = 0
  readonly masters: unknown[]
  readonly slots: unknown[]
  readonly _slots = { rediscover: async () => void this.rediscovers++ }
  constructor() {
    super()
    const master = { address: '127.0.0.1:7000', host: '127.0.0.1', port: 7000, client: new FakeClient([]) }
    this.masters = [master]
    this.slots = new Array(16384).fill({ master })
  }
  connect() {
    return Promise.resolve()
  }
  sendCommand(): never {
    throw new Error('not sent through the cluster client here')
  }
}

/** Waits until `done()`, a turn at a time, for at most `ms` (real time): false if it never was. */
async function within(ms: number, done: () => boolean): Promise<boolean> {
  const end = performance.now() + ms
  while (!done()) {
    if (performance.now() > end) return false
    await turn()
  }
  return true
}

test('NodeRedisClusterTopology: a step of the wall clock back does not hold off re-reads of the slot map (helper-308)', async (t) => {
  mock.timers.enable({ apis: ['Date'], now: Date.now() })
  t.after(() => mock.timers.reset())
  const cluster = new OpenCluster()
  const topology = new NodeRedisClusterTopology(
    cluster as never,
    {
      connectTimeout: 2000,
      commandTimeout: 1000,
      reconnectAttempts: 1,
      poolSize: 1,
      onError: () => undefined,
    } as never,
  )
  t.after(() => topology.close().catch(() => undefined))
  await turn()
  const before = cluster.rediscovers
  topology.doubtLayout()
  assert.ok(await within(1000, () => cluster.rediscovers === before + 1), 'a doubt re-reads the slot map')
  // NTP steps the clock 10 minutes back; the probe interval passes on the process's clock.
  mock.timers.setTime(Date.now() - 600_000)
  await sleep(LAYOUT_PROBE_INTERVAL + 10)
  topology.doubtLayout()
  assert.ok(
    await within(1000, () => cluster.rediscovers === before + 2),
    'the next doubt, an interval later, too',
  )
})
