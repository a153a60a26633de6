/**
 * A fleet closed at once after a near cache started tracking, on the same tick or within a
 * millisecond, leaves no socket behind (SPEC §1: close "stops every loop/timer of every primitive
 * made from it, closes every connection it opened"). The near cache's tracking starts
 * asynchronously (the topology, then a control connection per master for CLIENT TRACKING): a
 * close that came while it was on its way must still close what it opens, and it must open
 * nothing after close. The tracking once joined the fleet's cleanups only after the topology
 * resolved, too late for a close already running, and its control connections stayed open (the
 * process never exited).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as delay, setImmediate as turn } from 'node:timers/promises'
import { createFleet, type FleetOptions } from '../../src/index.ts'
import { type RedisServer, startCluster, startRedis } from '../harness/redis-server.ts'
import { socketsTo } from '../harness/sockets.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let standalone: RedisServer
let cluster: Awaited<ReturnType<typeof startCluster>>
before(async () => {
  ;[standalone, cluster] = await Promise.all([startRedis(), startCluster()])
})
after(async () => {
  await Promise.all([standalone?.stop(), cluster?.stop()])
})

/** How long the sockets closed by close() may take to be gone (their handles close in a later turn). */
const GONE_WITHIN = 3000
/**
 * How long a connection opened after close would take to show: the tracking's start is a few
 * loopback round trips (topology, masters, a control connection), each well under 1 ms quiet.
 */
const LATE_WITHIN = 300

/**
 * Waits for the sockets to `ports` to be gone, then looks again LATE_WITHIN later: a connection
 * opened after close shows up in the second look.
 */
async function assertNoSockets(ports: ReadonlySet<number>, what: string): Promise<void> {
  const deadline = Date.now() + GONE_WITHIN
  while (socketsTo(ports).length > 0 && Date.now() < deadline) await delay(20)
  await delay(LATE_WITHIN)
  await turn()
  await turn()
  const left = socketsTo(ports)
  // Destroyed, so that a failure does not also hold the process (and the next cases) open.
  for (const socket of left) socket.destroy()
  assert.equal(left.length, 0, `${what}: a socket to Redis is still open after close`)
}

type Start = (fleet: ReturnType<typeof createFleet>) => Promise<unknown>[]

const nearAlone: Start = (fleet) => [fleet.cache({ near: { max: 1000 } }).read('a')]

const nearBrokerConsume: Start = (fleet) => {
  const calls = [fleet.cache({ near: { max: 1000 } }).read('a')]
  const broker = fleet.broker()
  broker.subscribe(() => {})
  calls.push(broker.ready())
  calls.push(fleet.streams().consume('g', 'c', () => {}))
  calls.push(fleet.streams().tail('ch', undefined, () => {}))
  return calls
}

async function closeEarly(
  options: FleetOptions,
  ports: ReadonlySet<number>,
  start: Start,
  wait: number | undefined,
  what: string,
): Promise<void> {
  const fleet = createFleet({ ...options, namespace: uniqueNamespace('near-close'), onError() {} })
  const calls = start(fleet)
  // Handled now: close rejects some of them before they are waited for.
  for (const call of calls) call.catch(() => {})
  if (wait !== undefined) await delay(wait)
  await fleet.close()
  // Every call settles (how is not what this test is about).
  await Promise.allSettled(calls)
  await assertNoSockets(ports, what)
}

for (const topology of ['standalone', 'cluster'] as const) {
  for (const transport of ['ioredis', 'node-redis'] as const) {
    const setup = (): { options: FleetOptions; ports: Set<number> } =>
      topology === 'standalone'
        ? { options: { url: standalone.url, transport }, ports: new Set([standalone.port]) }
        : {
            options: { url: cluster.urls, cluster: true, transport },
            ports: new Set(cluster.servers.map((s) => s.port)),
          }

    test(`${topology}, ${transport}: a near cache closed at once leaves no socket open`, async () => {
      const { options, ports } = setup()
      for (const wait of [undefined, 0, 1]) {
        for (let i = 0; i < 3; i++) {
          await closeEarly(options, ports, nearAlone, wait, `near, close after ${wait ?? 'nothing'} (${i})`)
        }
      }
    })

    test(`${topology}, ${transport}: a near cache, broker and streams closed at once leave no socket open`, async () => {
      const { options, ports } = setup()
      for (const wait of [undefined, 0, 1]) {
        for (let i = 0; i < 3; i++) {
          await closeEarly(
            options,
            ports,
            nearBrokerConsume,
            wait,
            `near+broker+consume+tail, close after ${wait ?? 'nothing'} (${i})`,
          )
        }
      }
    })
  }
}
