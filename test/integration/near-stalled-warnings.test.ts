/**
 * A near cache on a ring whose one server stalls (SIGSTOP: its connections stay open, nothing is
 * answered). The periodic ROLE check of that master times out on every pass and keeps its
 * entries flushed, but the failure is reported once per change of the node's state (SPEC §1),
 * not once per check: one onError while it stays stalled, one more after it came back, vouched
 * again, and stalled a second time. The servers are this file's own, since a stalled server
 * stalls every client of it.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { topologyCheckInterval } from '../../src/cache/tracking.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { command, info } from '../harness/faults.ts'
import { monitorServer } from '../harness/monitor.ts'
import { untilNearHit } from '../harness/near-cache.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const COMMAND_TIMEOUT = 300
const CONNECT_TIMEOUT = 300
const INTERVAL = topologyCheckInterval(COMMAND_TIMEOUT)
/** Checks of a healthy master during one ROLE of the stalled master (it waits commandTimeout). */
const CHECKS_PER_STALLED_ROLE = Math.ceil((COMMAND_TIMEOUT + INTERVAL) / INTERVAL)
/** How many ROLEs of the stalled master the span covers: each used to be reported again. */
const STALLED_ROLES = 5
/** Coming (back) online takes a reconnect and a few commands: generous, for a loaded machine. */
const LINK_BOUND = 20 * 1000
/** The near cache's periodic check reports under this op (`cache near cache <node> ROLE`). */
const NEAR_OP = 'cache near cache'

let servers: RedisServer[] = []
const cleanups: (() => Promise<unknown> | unknown)[] = []
before(async () => {
  servers = await Promise.all([1, 2, 3].map(() => startRedis()))
})
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  await Promise.all(servers.map((s) => s.stop()))
})

/** Resolves when `count()` reaches `target`, polled every check interval, within `bound` ms. */
async function until(what: string, count: () => number, target: number, bound: number): Promise<void> {
  const deadline = Date.now() + bound
  while (count() < target) {
    assert.ok(Date.now() < deadline, `${what}: ${count()} of ${target} within ${bound} ms`)
    await new Promise((resolve) => setTimeout(resolve, INTERVAL / 2))
  }
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`near cache on a ring, one server stalled (${transport}): its failing ROLE check is reported once per stall, not once per check`, async () => {
    const namespace = uniqueNamespace('nearstall')
    const reported: { op: string; message: string; at: number }[] = []
    const fleet: Fleet = createFleet({
      url: servers.map((s) => s.url),
      namespace,
      transport,
      commandTimeout: COMMAND_TIMEOUT,
      connectTimeout: CONNECT_TIMEOUT,
      onError: (error, { op }) => void reported.push({ op, message: String(error), at: Date.now() }),
    })
    cleanups.push(() => fleet.close())
    const quoted = () => reported.map((r) => `${r.op}: ${r.message}`)
    const nearReports = () => reported.filter((r) => r.op.startsWith(NEAR_OP)).length
    const cache = fleet.cache({ namespace: 'c', near: { max: 100 }, errorHandler: () => {} })

    // A key on each server, read until the near cache answers it: every master's tracking is live.
    const keys = Array.from({ length: 24 }, (_, i) => `k${i}`)
    const [stalled, healthy] = servers as [RedisServer, RedisServer]
    const heldBy = async (server: RedisServer) => {
      for (const key of keys)
        if ((await command(server.port, 'EXISTS', `${namespace}:cache:c:${key}`)) === 1) return key
      return undefined
    }
    // The cache is failsafe: on a loaded machine a write that timed out (300 ms) left a server
    // without any of the keys. Written again until each server holds one.
    const written = Date.now() + LINK_BOUND
    do {
      assert.ok(Date.now() < written, `every server holds one of the 24 keys within ${LINK_BOUND} ms`)
      await cache.writeMulti(Object.fromEntries(keys.map((k) => [k, 'v'])))
    } while ((await Promise.all(servers.map(heldBy))).includes(undefined))
    const held = async (server: RedisServer) => {
      const key = await heldBy(server)
      if (key === undefined) throw new Error(`no key of the 24 on ${server.url}`)
      return key
    }
    const stalledKey = await held(stalled)
    for (const server of servers) await untilNearHit(cache, await held(server), LINK_BOUND, quoted())

    // The checks of a healthy master, as they reach it: the clock of the span below.
    let healthyRoles = 0
    const monitor = await monitorServer(healthy.url, (args) => {
      if (args[0]?.toLowerCase() === 'role') healthyRoles++
    })
    cleanups.push(() => monitor.destroy())
    const pid = Number((await info(stalled.port, 'server')).get('process_id'))
    assert.equal(nearReports(), 0, `nothing reported before the stall:\n${quoted().join('\n')}`)

    /** Stalls the server until the first report, then for STALLED_ROLES more ROLEs of it. */
    const stall = async (expected: number) => {
      process.kill(pid, 'SIGSTOP')
      try {
        await until('the stalled master reported', nearReports, expected, LINK_BOUND)
        const from = healthyRoles
        await until(
          'checks of the healthy master during the stall',
          () => healthyRoles - from,
          STALLED_ROLES * CHECKS_PER_STALLED_ROLE,
          LINK_BOUND,
        )
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      const stalledId = `127.0.0.1:${stalled.port}/`
      const near = reported.filter((r) => r.op.startsWith(NEAR_OP))
      assert.equal(
        near.length,
        expected,
        `the stall is reported once, not once per check:\n${quoted().join('\n')}`,
      )
      assert.ok(
        near.at(-1)!.op.includes(stalledId),
        `the report names the stalled master: ${near.at(-1)!.op}`,
      )
    }

    await stall(1)
    // Back: the node vouches again (its tracking was retried by the checks, silently)...
    await untilNearHit(cache, stalledKey, LINK_BOUND, quoted())
    assert.equal(nearReports(), 1, `coming back is not a failure:\n${quoted().join('\n')}`)
    // ...so a new stall is a new change of its state, heard once more.
    await stall(2)
    await untilNearHit(cache, stalledKey, LINK_BOUND, quoted())
  })
}
