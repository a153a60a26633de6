/**
 * Never hang, fail fast while down, one warning per change of state (SPEC §1, §8).
 *
 * - `cluster: true` against a standalone server, or seeds that are all unreachable (refused, or
 *   a black hole that accepts and never answers): every main method of every primitive settles
 *   within `connectTimeout + commandTimeout` (plus the same again as a margin for a loaded
 *   machine) with ConfigError ERR_NOT_A_CLUSTER / ConnectionError naming the seeds.
 * - A node known to be down fails calls at once: during an outage a failsafe cache's reads are
 *   refused with NodeDownError without touching the network (no connection attempt while any of
 *   1000 reads is in progress), and it is back after one reconnect once the server returns.
 * - Warnings: one per node per change of state, never one per call, with or without onError; a
 *   call that fails for another reason (WRONGTYPE) rejects and warns nothing.
 * - A standalone "server" that accepts connections and never answers them, hangs up at once or
 *   answers in another protocol, makes the node down too (each attempt ends at its first deadline or the hang-up), announced
 *   once with a reason in redfleet's words; calls then fail at once with NodeDownError.
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { once } from 'node:events'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type Cache,
  ClosedError,
  ConfigError,
  ConnectionError,
  createFleet,
  type Fleet,
  type FleetOptions,
  failsafe,
  NodeDownError,
} from '../../src/index.ts'
import { reconnectDelay, timeCommands } from '../../src/topology/connection.ts'
import { loadIORedis } from '../../src/topology/ioredis.ts'
import { loadNodeRedis } from '../../src/topology/node-redis-module.ts'
import { type BlackHole, command, downAnnouncements, startBlackHole, waitUntil } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { socketsTo } from '../harness/sockets.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { countWarnings } from '../harness/warnings.ts'

// The clients the fleets use are loaded before any clock starts (a fleet imports its client on
// first use, and importing node-redis alone took 0.6-2.4 s on a loaded machine).
await Promise.all([loadIORedis(), loadNodeRedis()])

const connectTimeout = 500
const commandTimeout = 500
/** SPEC §1: every call settles within connectTimeout + commandTimeout... */
const BOUND = connectTimeout + commandTimeout
/** ...asserted with the same again as a margin for a loaded machine. */
const LIMIT = 2 * BOUND
/** A restarted server is found by the next reconnect (the longest delay), then one call. */
const BACK = reconnectDelay(Number.POSITIVE_INFINITY) + LIMIT

/** Someone else's writes turn every key of `namespace` into a string: each step meets WRONGTYPE. */
async function clobber(port: number, namespace: string): Promise<string[]> {
  const keys = (await command(port, 'KEYS', `${namespace}:*`)) as string[]
  for (const key of keys) {
    await command(port, 'DEL', key)
    await command(port, 'SET', key, 'x')
  }
  return keys
}

interface Outcome {
  readonly name: string
  readonly ms: number
  readonly error: unknown
}

/**
 * The main methods of every primitive, each started now. Failsafe ones (cache, broker.publish,
 * tracker.track) resolve and report to `sink`; the others reject.
 */
function everyCall(fleet: Fleet, sink: (e: unknown) => void): [string, () => Promise<unknown>][] {
  const store = fleet.store<number>()
  const cache: Cache = fleet.cache({ errorHandler: ({ exception }) => sink(exception) })
  const broker = fleet.broker({ onError: sink })
  const presence = fleet.presence({ onError: sink })
  const streams = fleet.streams()
  const membership = fleet.membership()
  const tracker = fleet.tracker({ onError: sink })
  return [
    ['fleet.ready', () => fleet.ready()],
    ['store.get', () => store.get('k')],
    ['store.set', () => store.set('k', 1)],
    ['store.delete', () => store.delete('k')],
    ['store.setIfNotExists', () => store.setIfNotExists('claim', 1)],
    ['store.increment', () => store.increment('n')],
    ['store.update', () => store.update('u', (v) => (v ?? 0) + 1)],
    ['store.getMany', () => store.getMany(['a', 'b', 'c'])],
    [
      'store.setMany',
      () =>
        store.setMany([
          ['a', 1],
          ['b', 2],
        ]),
    ],
    ['cache.read', () => cache.read('k')],
    ['cache.write', () => cache.write('k', 1)],
    ['cache.fetch', () => cache.fetch('f', () => 1)],
    ['cache.readMulti', () => cache.readMulti(['a', 'b'])],
    ['cache.increment', () => cache.increment('c')],
    ['broker.publish', () => broker.publish('hello')],
    ['broker.ready', () => broker.ready()],
    ['presence.publish', () => presence.publish('room', 'hi')],
    ['presence.subscribe', () => presence.subscribe('room', () => {})],
    ['streams.publish', () => streams.publish({ a: 1 })],
    ['streams.publishToChannel', () => streams.publishToChannel('ch', { a: 1 })],
    ['streams.readRange', () => streams.readRange('ch')],
    ['streams.ensureGroup', () => streams.ensureGroup('g')],
    ['streams.groupLag', () => streams.groupLag('g')],
    ['membership.heartbeat', () => membership.heartbeat('m1')],
    ['membership.live', () => membership.live()],
    ['membership.send', () => membership.send('m1', 'hi')],
    ['tracker.start', () => tracker.start()],
    ['tracker.track', () => tracker.track('job', {}, async () => 'done')],
    ['tracker.inFlight', () => tracker.inFlight()],
    ['tracker.orphans', () => tracker.orphans()],
  ]
}

/** Starts every call at once and records when and how each settled. */
async function settleAll(fleet: Fleet, sink: (e: unknown) => void): Promise<Outcome[]> {
  const started = performance.now()
  return Promise.all(
    everyCall(fleet, sink).map(async ([name, call]) => {
      try {
        await call()
        return { name, ms: performance.now() - started, error: undefined }
      } catch (error) {
        return { name, ms: performance.now() - started, error }
      }
    }),
  )
}

function assertSettledInTime(outcomes: Outcome[]): void {
  const late = outcomes.filter((o) => o.ms >= LIMIT).map((o) => `${o.name} ${o.ms.toFixed(0)} ms`)
  assert.deepEqual(late, [], `settled after ${LIMIT} ms (2 x connectTimeout + commandTimeout)`)
}

/** Runs every call twice (first connect, then while known to be failing) against `options`. */
async function exercise(
  options: FleetOptions,
  expect: (error: unknown, where: string) => void,
): Promise<{ warnings: string[]; resolved: Set<string> }> {
  const warnings = countWarnings()
  const resolved = new Set<string>()
  const fleet = createFleet({ ...options, namespace: uniqueNamespace(), connectTimeout, commandTimeout })
  try {
    for (const round of ['first calls', 'later calls']) {
      const reported: unknown[] = []
      const outcomes = await settleAll(fleet, (e) => reported.push(e))
      assertSettledInTime(outcomes)
      for (const { name, error } of outcomes) {
        // Failsafe methods resolve; their failure went to the sink.
        if (error !== undefined) expect(error, `${round}: ${name}`)
        else resolved.add(name)
      }
      assert.ok(reported.length > 0, 'the failsafe methods reported their failures')
      for (const error of reported) expect(error, `${round}: a reported failure`)
    }
  } finally {
    await fleet.close()
    warnings.stop()
  }
  return { warnings: warnings.messages, resolved }
}

/** The cache's calls in `everyCall`: failsafe for a failing Redis, never for a bad configuration. */
const cacheCalls = (names: Set<string>) => [...names].filter((name) => name.startsWith('cache.'))

describe('cluster: true against a standalone server', () => {
  let server: RedisServer
  before(async () => {
    server = await startRedis()
  })
  after(() => server?.stop())

  test('every call of every primitive fails with ConfigError ERR_NOT_A_CLUSTER in time, one warning', async () => {
    const { warnings, resolved } = await exercise({ url: server.url, cluster: true }, (error, where) => {
      assert.ok(error instanceof ConfigError, `${where}: ${String(error)}`)
      assert.equal(error.code, 'ERR_NOT_A_CLUSTER', where)
      assert.equal(error.outcome, 'not-applied', `${where}: nothing was sent`)
      assert.match(error.message, /is not a Redis Cluster \(cluster_enabled:0\)/, where)
      assert.ok(error.message.includes(`127.0.0.1:${server.port}`), `${where} names the server`)
    })
    assert.equal(warnings.length, 1, `one warning, got:\n${warnings.join('\n')}`)
    assert.match(warnings[0]!, /not a Redis Cluster/)
    // A cache misconfigured so would otherwise only ever miss, with a warning at most.
    assert.deepEqual(cacheCalls(resolved), [], 'the cache calls rejected too: a ConfigError is not absorbed')
  })
})

/**
 * A subscription's readiness times out after connectTimeout with the pub/sub hub's own words
 * ("not confirmed by Redis within 500 ms"): the hub keeps the channel registered and retries.
 */
function isSubscriptionWait(error: Error): boolean {
  return /not confirmed by Redis within/.test(error.message)
}

describe('cluster: true with every seed unreachable', () => {
  let hole: BlackHole
  before(async () => {
    hole = await startBlackHole()
  })
  after(() => hole?.close())

  test('refused seeds: every call fails with ConnectionError naming the seeds in time, one warning', async () => {
    const seeds = ['redis://127.0.0.1:1', 'redis://127.0.0.1:2']
    const { warnings, resolved } = await exercise({ url: seeds, cluster: true }, (error, where) => {
      assert.ok(error instanceof ConnectionError, `${where}: ${String(error)}`)
      if (isSubscriptionWait(error)) return
      assert.match(error.message, /127\.0\.0\.1:1, 127\.0\.0\.1:2/, `${where} names the seeds`)
    })
    assert.equal(warnings.length, 1, `one warning, got:\n${warnings.join('\n')}`)
    // Failsafe (SPEC §3): a connection error never escapes a cache call.
    assert.equal(cacheCalls(resolved).length, 5, 'every cache call resolved')
  })

  for (const transport of ['ioredis', 'node-redis'] as const) {
    test(`a seed that accepts and never answers (${transport}): the same, within the bound, and no socket left`, async () => {
      await exercise({ url: hole.url, cluster: true, transport }, (error, where) => {
        assert.ok(error instanceof ConnectionError, `${where}: ${String(error)}`)
        if (isSubscriptionWait(error)) return
        assert.ok(
          error.message.includes(`127.0.0.1:${hole.port}`),
          `${where} names the seed: ${error.message}`,
        )
      })
      // Closed: nothing of the fleet's keeps the process alive (node-redis' slot-map reader did),
      // once a socket opened last is silent for as long as an opening may take.
      await waitUntil(
        'no socket left to the seed',
        async () => socketsTo(hole.port).length === 0,
        3 * (connectTimeout + commandTimeout),
      )
    })
  }
})

describe('a standalone server that goes down and comes back', () => {
  let server: RedisServer
  before(async () => {
    server = await startRedis()
  })
  after(() => server?.stop())

  test('ready() against a refused connection says "connection refused", naming host:port', async () => {
    const stopped = await startRedis()
    await stopped.stop()
    const fleet = createFleet({ url: stopped.url, onError: () => {} })
    try {
      await assert.rejects(fleet.ready(), (e: unknown) => {
        assert.ok(e instanceof ConnectionError, String(e))
        assert.match(
          e.message,
          new RegExp(`connection refused \\(ECONNREFUSED 127\\.0\\.0\\.1:${stopped.port}\\)`),
        )
        assert.doesNotMatch(e.message, /Connection is closed/)
        return true
      })
    } finally {
      await fleet.close()
    }
  })

  test('a failsafe cache answers without a network round trip while Redis is down and is back after one reconnect', async (t) => {
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace(),
      connectTimeout,
      commandTimeout,
    })
    const failures: unknown[] = []
    const cache = fleet.cache({ errorHandler: ({ exception }) => failures.push(exception) })
    const warnings = countWarnings()
    try {
      assert.equal(await cache.write('k', 'v'), true)
      await server.stop()
      assert.equal(await cache.read('k'), undefined, 'the first failure')
      // "At once" without a clock: a read that waited for the network (a reconnect, a reply, a
      // connect timeout) would still be in progress when the client opens its next socket (each
      // reconnect attempt opens one, announced on net.client.socket). A refused read settles
      // before that, but for the one turn of the event loop it yields before it rejects (so that
      // callers retrying in a loop do not starve the process): at most one read per attempt.
      let sockets = 0
      const opened = () => sockets++
      diagnosticsChannel.subscribe('net.client.socket', opened)
      const times: number[] = []
      const overlapping: number[] = []
      try {
        for (let i = 0; i < 1000; i++) {
          const before = sockets
          const started = performance.now()
          assert.equal(await cache.read('k'), undefined)
          times.push(performance.now() - started)
          if (sockets !== before) overlapping.push(i)
        }
      } finally {
        diagnosticsChannel.unsubscribe('net.client.socket', opened)
      }
      times.sort((a, b) => a - b)
      t.diagnostic(
        `read while down: median ${(times[500]! * 1000).toFixed(0)} µs, p99 ${times[990]!.toFixed(2)} ms; ${sockets} reconnect attempts meanwhile`,
      )
      assert.ok(
        overlapping.length <= sockets,
        `no read waited for a connection attempt: ${overlapping.length} reads overlapped ${sockets} attempts`,
      )
      assert.equal(failures.length, 1001, 'every read reported its failure to the errorHandler')
      for (const error of failures.slice(1)) {
        assert.ok(error instanceof NodeDownError, String(error))
        assert.equal(error.outcome, 'not-applied', 'never sent')
      }

      await server.restart()
      const back = performance.now()
      while (!(await cache.write('k', 'again'))) {
        assert.ok(
          performance.now() - back < BACK,
          `back within ${BACK} ms of the server accepting connections`,
        )
        await sleep(5)
      }
      t.diagnostic(`back ${(performance.now() - back).toFixed(0)} ms after the restart`)
      assert.equal(await cache.read('k'), 'again')
      // The cache's own errorHandler got the per-call failures; the fleet warned once (down).
      assert.equal(warnings.count, 1, `warnings:\n${warnings.messages.join('\n')}`)
      assert.match(warnings.messages[0]!, /is down \(connection refused/)
    } finally {
      warnings.stop()
      await fleet.close()
    }
  })

  test('many calls across a down/up cycle: one warning per change, never one per call', async () => {
    const warnings = countWarnings()
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace(),
      connectTimeout,
      commandTimeout,
    })
    const store = fleet.store<number>()
    try {
      await store.set('k', 1)
      await server.stop()
      for (let i = 0; i < 50; i++) await assert.rejects(store.get('k'), ConnectionError)
      await server.restart()
      while (
        !(await store.set('k', 2).then(
          () => true,
          () => false,
        ))
      )
        await sleep(10)
      await server.stop()
      for (let i = 0; i < 50; i++) await assert.rejects(store.get('k'), ConnectionError)
      await server.restart()
      while (
        !(await store.set('k', 3).then(
          () => true,
          () => false,
        ))
      )
        await sleep(10)
      assert.equal(warnings.count, 2, `one per outage:\n${warnings.messages.join('\n')}`)
      for (const message of warnings.messages) {
        assert.match(message, /is down/)
        assert.doesNotMatch(message, /maxRetriesPerRequest/)
      }
    } finally {
      warnings.stop()
      await fleet.close()
    }
  })

  test('default sinks: a failsafe cache and failsafe(store) print one warning per outage, not per call', async () => {
    const warnings = countWarnings()
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace(),
      connectTimeout,
      commandTimeout,
    })
    const cache = fleet.cache()
    const store = failsafe(fleet.store<number>())
    try {
      assert.equal(await cache.write('k', 1), true)
      await server.stop()
      for (let i = 0; i < 100; i++) {
        assert.equal(await cache.read('k'), undefined)
        assert.equal(await store.get('k'), undefined)
      }
      await server.restart()
      while (!(await cache.write('k', 2))) await sleep(10)
      assert.equal(warnings.count, 1, `warnings:\n${warnings.messages.join('\n')}`)
      assert.match(warnings.messages[0]!, /is down/)
    } finally {
      warnings.stop()
      await fleet.close()
    }
  })

  test('no onError: a failed call rejects and warns nothing (warnings are for changes of a node state)', async () => {
    const warnings = countWarnings()
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: server.url, namespace, connectTimeout, commandTimeout })
    const store = fleet.store<number>()
    try {
      await command(server.port, 'RPUSH', `${namespace}:store:list`, 'x')
      for (let i = 0; i < 20; i++) await assert.rejects(store.get('list'), /WRONGTYPE/)
      assert.equal(warnings.count, 0, warnings.messages.join('\n'))
      // A primitive's own onError still hears each failed call.
      const heard: unknown[] = []
      const own = fleet.store<number>({ onError: (error) => heard.push(error) })
      await assert.rejects(own.get('list'), /WRONGTYPE/)
      assert.equal(heard.length, 1)
    } finally {
      warnings.stop()
      await fleet.close()
    }
  })

  test("no onError: failures of calls redfleet makes itself (join's heartbeats, track's records) still warn", async () => {
    const warnings = countWarnings()
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: server.url, namespace, connectTimeout, commandTimeout })
    // A warning matching `pattern`, within LIMIT (each failure is immediate: WRONGTYPE).
    const heard = (pattern: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          process.off('warning', listener)
          reject(new Error(`no warning matching ${pattern} within ${LIMIT} ms`))
        }, LIMIT)
        const listener = (warning: Error) => {
          if (!pattern.test(warning.message)) return
          process.off('warning', listener)
          clearTimeout(timer)
          resolve(warning.message)
        }
        process.on('warning', listener)
      })
    try {
      const tracker = fleet.tracker()
      await tracker.start()
      await tracker.track('job-0', {}, async () => 'ok')
      const members = fleet.membership({ ttl: 600 })
      await members.heartbeat('w')
      const keys = await clobber(server.port, namespace)
      assert.ok(keys.length >= 2, keys.join(', '))
      const tracked = heard(/tracker\.track .*WRONGTYPE/)
      assert.equal(await tracker.track('job-1', {}, async () => 'still ok'), 'still ok')
      assert.match(await tracked, /job-1/)
      const beat = heard(/membership\.heartbeat .*WRONGTYPE/)
      const joined = members.join('w2', { interval: 100 })
      await beat
      await joined.stop().catch(() => {})
    } finally {
      warnings.stop()
      await fleet.close()
    }
  })

  test("with onError: a failed record of track's is heard once", async () => {
    const namespace = uniqueNamespace()
    const heard: { op: string; error: unknown }[] = []
    const fleet = createFleet({
      url: server.url,
      namespace,
      connectTimeout,
      commandTimeout,
      onError: (error, { op }) => heard.push({ op, error }),
    })
    try {
      const tracker = fleet.tracker()
      await tracker.start()
      await tracker.track('job-0', {}, async () => 'ok')
      await clobber(server.port, namespace)
      assert.equal(await tracker.track('job-1', {}, async () => 'still ok'), 'still ok')
      const reports = heard.filter((h) => /WRONGTYPE/.test(String(h.error)) && /job-1/.test(String(h.error)))
      assert.equal(reports.length, 1, heard.map((h) => `${h.op}: ${String(h.error)}`).join('\n'))
    } finally {
      await fleet.close()
    }
  })

  test('with onError given: no warning at all; onError hears each outage once and each call', async () => {
    const warnings = countWarnings()
    const heard: { op: string; error: unknown }[] = []
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace(),
      connectTimeout,
      commandTimeout,
      onError: (error, { op }) => heard.push({ op, error }),
    })
    const store = fleet.store<number>()
    try {
      await store.set('k', 1)
      await server.stop()
      for (let i = 0; i < 50; i++) await assert.rejects(store.get('k'), ConnectionError)
      await server.restart()
      while (
        !(await store.set('k', 2).then(
          () => true,
          () => false,
        ))
      )
        await sleep(10)
      assert.equal(warnings.count, 0, warnings.messages.join('\n'))
      const announcements = heard.filter((h) => h.op.startsWith('connection '))
      assert.equal(announcements.length, 1, 'the outage, once')
      assert.equal(heard.filter((h) => h.op === 'store.get').length, 50, 'each failed call, once')
      for (const { error } of heard) assert.doesNotMatch(String(error), /maxRetriesPerRequest/)
    } finally {
      warnings.stop()
      await fleet.close()
    }
  })
})

describe('a standalone "server" that accepts connections and does not serve them as Redis', () => {
  let hole: BlackHole
  /** Accepts each connection and closes it at once (a proxy with nothing behind it). */
  let hangUp: Server
  /** Answers whatever it is sent as an HTTP server does (a url naming the wrong port). */
  let http: Server
  /** Accepts and never reads, so never closes its side either (a stopped process). */
  let stopped: Server
  /** Answers the first command of a connection (+OK), then nothing: a handshake half done. */
  let halfway: Server
  const unread = new Set<Socket>()
  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return server
  }
  const urlOf = (server: Server) => `redis://127.0.0.1:${(server.address() as AddressInfo).port}`
  before(async () => {
    hole = await startBlackHole()
    hangUp = await listen(createServer((socket) => socket.destroy()))
    stopped = await listen(
      createServer((socket) => {
        unread.add(socket.pause())
      }),
    )
    halfway = await listen(
      createServer((socket) => {
        socket.on('error', () => {})
        socket.once('data', () => socket.write('+OK\r\n'))
      }),
    )
    http = await listen(
      createServer((socket) => {
        socket.on('error', () => {})
        socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'))
      }),
    )
  })
  after(async () => {
    await hole?.close()
    hangUp?.close()
    http?.close()
    for (const socket of unread) socket.destroy()
    stopped?.close()
    halfway?.close()
  })

  interface Case {
    readonly name: string
    readonly url: () => string
    readonly timeouts: { connectTimeout: number; commandTimeout: number }
    /** The reason the announcement and the refusals give. */
    readonly reason: RegExp
  }
  const cases: Case[] = [
    {
      name: 'one that never answers, with no commandTimeout',
      url: () => hole.url,
      timeouts: { connectTimeout, commandTimeout: 0 },
      reason: /no answer to the handshake within connectTimeout \(500 ms\)/,
    },
    {
      name: 'one that never reads, with no commandTimeout',
      url: () => urlOf(stopped),
      timeouts: { connectTimeout, commandTimeout: 0 },
      reason: /no answer to the handshake within connectTimeout \(500 ms\)/,
    },
    {
      name: 'one that never answers, with a commandTimeout below connectTimeout',
      url: () => hole.url,
      timeouts: { connectTimeout, commandTimeout: commandTimeout / 5 },
      reason: /no answer to the handshake within connectTimeout \(500 ms\)/,
    },
    {
      name: 'one that answers the first command of its handshake (a db in the url), then nothing',
      url: () => `${urlOf(halfway)}/1`,
      timeouts: { connectTimeout, commandTimeout },
      reason: /the handshake did not finish within connectTimeout \(500 ms\): the server answered part of it/,
    },
    {
      name: 'one that hangs up at once',
      url: () => urlOf(hangUp),
      timeouts: { connectTimeout, commandTimeout },
      reason:
        /the server closed the connection before it was ready.*: Redis does so at once when it has maxclients connections/,
    },
    {
      name: 'one that answers in another protocol (HTTP)',
      url: () => urlOf(http),
      timeouts: { connectTimeout, commandTimeout },
      reason: /the server does not answer in Redis' protocol \(.*"H"\): is the url that of a Redis server\?/,
    },
  ]
  test('node-redis: ready() against one that never answers rejects, naming the node (its handshake has no deadline)', {
    timeout: 20 * (connectTimeout + commandTimeout),
  }, async () => {
    const fleet = createFleet({
      url: hole.url,
      transport: 'node-redis',
      namespace: uniqueNamespace(),
      connectTimeout,
      commandTimeout,
      onError: () => {},
    })
    try {
      await assert.rejects(fleet.ready(), (error: unknown) => {
        assert.ok(error instanceof ConnectionError, String(error))
        assert.equal(error.outcome, 'not-applied')
        assert.ok(error.message.includes(`127.0.0.1:${hole.port}`), error.message)
        return true
      })
    } finally {
      await fleet.close()
    }
  })

  test('an increment that waited for a connection past commandTimeout was never sent: not-applied', async () => {
    const fleet = createFleet({
      url: hole.url,
      namespace: uniqueNamespace(),
      connectTimeout: 20 * commandTimeout,
      commandTimeout,
      retry: { attempts: 1 },
      onError: () => {},
    })
    try {
      const error = await fleet
        .store<number>()
        .increment('n')
        .catch((e: unknown) => e)
      assert.ok(error instanceof ConnectionError, String(error))
      assert.equal(error.outcome, 'not-applied', 'taken out of the offline queue, so safe to try again')
      assert.match(error.message, /no connection to Redis at 127\.0\.0\.1:\d+ while the command waited/)
    } finally {
      await fleet.close()
    }
  })

  test('a call still waiting for a connection when the fleet closes is a ClosedError that was not applied', async () => {
    const fleet = createFleet({
      url: hole.url,
      namespace: uniqueNamespace(),
      connectTimeout: 20 * connectTimeout,
      commandTimeout: 0,
      onError: () => {},
    })
    const set = fleet
      .store<number>()
      .set('k', 1)
      .catch((error: unknown) => error)
    await fleet.close()
    const error = await set
    assert.ok(error instanceof ClosedError, String(error))
    assert.equal(error.outcome, 'not-applied', 'it never left the offline queue')
  })

  test("past its deadline a lone command is taken out of ioredis' offline queue, a pipeline's never", async () => {
    const { Redis } = await loadIORedis()
    const client = new Redis(hole.url, { lazyConnect: true, retryStrategy: () => null })
    client.on('error', () => {})
    timeCommands(client, commandTimeout)
    const offline = client as unknown as { offlineQueue: { length: number } }
    try {
      client.connect().catch(() => {})
      const lone = client.get('lone').catch((error: unknown) => error)
      // ioredis writes a pipeline once all of its commands are handed to the socket: taking one
      // out would leave the others unwritten, and later replies matched to the wrong commands.
      const pipeline = client
        .pipeline()
        .set('a', '1')
        .set('b', '2')
        .exec()
        .catch((error: unknown) => error)
      assert.equal(offline.offlineQueue.length, 3)
      assert.match(String(await lone), /no connection to Redis at 127\.0\.0\.1:\d+ while the command waited/)
      await pipeline
      assert.equal(offline.offlineQueue.length, 2, "the pipeline's commands stay, to be written together")
    } finally {
      client.disconnect()
    }
  })

  test("while the node is down, a call made during a reconnect attempt's handshake fails at once too", async () => {
    const slowAttempts = 4 * connectTimeout
    const { down, onError } = downAnnouncements()
    const fleet = createFleet({
      url: hole.url,
      namespace: uniqueNamespace(),
      connectTimeout: slowAttempts,
      commandTimeout,
      reconnectAttempts: 0,
      onError,
    })
    const sockets: Socket[] = []
    const opened = ({ socket }: { socket: Socket }) => void sockets.push(socket)
    diagnosticsChannel.subscribe('net.client.socket', opened as (message: unknown) => void)
    try {
      const store = fleet.store<number>()
      void store.get('k').catch(() => {})
      await down
      for (let round = 0; round < 3; round++) {
        // The next attempt's socket, once connected: ioredis is then in its handshake.
        const seen = sockets.length
        while (sockets.length === seen) await new Promise(setImmediate)
        const socket = sockets.at(-1)!
        if (socket.connecting) await once(socket, 'connect')
        const started = performance.now()
        const error = await store.get('k').catch((e: unknown) => e)
        const took = performance.now() - started
        assert.ok(error instanceof NodeDownError, String(error))
        // Waiting for the attempt would take up to its connectTimeout.
        assert.ok(took < slowAttempts / 2, `refused at once, not after the attempt: ${took.toFixed(0)} ms`)
      }
    } finally {
      diagnosticsChannel.unsubscribe('net.client.socket', opened as (message: unknown) => void)
      await fleet.close()
    }
  })

  for (const { name, url, timeouts, reason } of cases) {
    test(`${name}: the node goes down, announced once, and calls then fail at once with NodeDownError`, async () => {
      // Down after reconnectAttempts + 1 failed attempts, each ended by the server or by the
      // first deadline, a reconnect delay apart; with a loaded machine's margin.
      const downWithin = 2 * (timeouts.connectTimeout + reconnectDelay(Number.POSITIVE_INFINITY)) + LIMIT
      const { announced, down, onError } = downAnnouncements()
      const fleet = createFleet({
        url: url(),
        namespace: uniqueNamespace(),
        ...timeouts,
        reconnectAttempts: 1,
        onError,
      })
      const store = fleet.store<number>()
      try {
        const first = store.get('k').catch((error: unknown) => error)
        await Promise.race([
          down,
          sleep(downWithin).then(() => assert.fail(`not known to be down within ${downWithin} ms`)),
        ])
        assert.equal(announced.length, 1)
        assert.match(String(announced[0]), /is down/)
        assert.match(String(announced[0]), reason)
        assert.ok((await first) instanceof ConnectionError, String(await first))
        const refused = await store.get('k').catch((error: unknown) => error)
        assert.ok(refused instanceof NodeDownError, String(refused))
        assert.equal(refused.outcome, 'not-applied')
        assert.match(refused.message, reason)
        assert.equal(announced.length, 1, 'announced once, not once per call')
      } finally {
        await fleet.close()
      }
    })
  }
})
