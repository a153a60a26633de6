/**
 * The near cache on a fleet made with an injected node-redis client (5 and 6), on real servers:
 * the same coherence as on ioredis (cache-near.test.ts). A change by any other client evicts the
 * entry; a FLUSHDB (an invalidation with no keys) empties the near cache; losing either link
 * (the subscriber connection, or the control connection that holds CLIENT TRACKING) flushes and
 * bypasses it until tracking is enabled again.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises'
import { createClient as createClient5 } from 'node-redis5'
import { createClient as createClient6 } from 'node-redis6'
import { type Cache, createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { destroyClient, type NodeRedisClient } from '../../src/transport/node-redis-client.ts'
import { untilNearHit as untilNearHitWithin } from '../harness/near-cache.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** What these tests do with a client of either version. */
interface Client {
  connect(): Promise<unknown>
  sendCommand(args: string[]): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
}

const VERSIONS: Record<string, (options: { url: string; RESP?: 2 | 3 }) => Client> = {
  'node-redis 5': (options) => createClient5(options),
  'node-redis 6': (options) => createClient6(options),
}

const COMMAND_TIMEOUT = 1000
/** An invalidation is one push message: it arrives well within one command timeout. */
const INVALIDATION_BOUND = COMMAND_TIMEOUT
/** Coming (back) online takes a reconnect and a few commands: generous, for a loaded machine. */
const LINK_BOUND = 20 * COMMAND_TIMEOUT

const cleanups: (() => Promise<unknown> | unknown)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** What the fleets reported (the faults here are expected), quoted when the near cache stays offline. */
const reported: string[] = []

/** Reads until the near cache answers (tracking is live), within `ms`. */
function untilNearHit(cache: Cache, key: string, ms = LINK_BOUND): Promise<void> {
  return untilNearHitWithin(cache, key, ms, reported)
}

/** Reads until `cache` answers `expected`, within `ms`. */
async function until(cache: Cache, key: string, expected: unknown, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while ((await cache.read(key)) !== expected) {
    assert.ok(Date.now() < deadline, what)
    await tick()
  }
}

for (const [version, createClient] of Object.entries(VERSIONS)) {
  describe(`the near cache on an injected ${version} client`, () => {
    /** A fleet on a fresh server, its user's client (RESP as given), and a raw client of ours. */
    async function setup(
      resp?: 2 | 3,
      options: Partial<FleetOptions> = {},
    ): Promise<{ server: RedisServer; fleet: Fleet; cache: Cache; raw: Client; full(key: string): string }> {
      const server = await startRedis()
      cleanups.push(() => server.stop())
      const open = () => {
        const client = createClient({ url: server.url, ...(resp ? { RESP: resp } : {}) })
        client.on('error', () => undefined)
        cleanups.push(() => destroyClient(client as unknown as NodeRedisClient))
        return client
      }
      const namespace = uniqueNamespace('near')
      const onError = (error: unknown, { op }: { op: string }) =>
        void reported.push(`${op}: ${String(error)}`)
      const fleet = createFleet({
        client: open(),
        namespace,
        commandTimeout: COMMAND_TIMEOUT,
        onError,
        ...options,
      })
      cleanups.push(() => fleet.close())
      const raw = open()
      await raw.connect()
      return {
        server,
        fleet,
        cache: fleet.cache({ near: { max: 100 } }),
        raw,
        full: (key) => `${namespace}:cache:${key}`,
      }
    }

    /** The CLIENT LIST lines of the server's connections whose flags match. */
    async function connections(raw: Client, flags: RegExp): Promise<string[]> {
      const list = String(await raw.sendCommand(['CLIENT', 'LIST']))
      return list.split('\n').filter((line) => flags.test(/ flags=(\S*)/.exec(line)?.[1] ?? ''))
    }

    const kill = (raw: Client, line: string) =>
      raw.sendCommand(['CLIENT', 'KILL', 'ID', /^id=(\d+)/.exec(line)![1]!])

    // RESP3 is node-redis 6's default; a RESP3 client of node-redis 5 is checked too.
    for (const resp of [undefined, 3] as const) {
      test(`a write by another client evicts the entry; FLUSHDB empties it (user's client ${resp ? `RESP${resp}` : 'default RESP'})`, async () => {
        const { cache, raw, full } = await setup(resp)
        await cache.write('k', { v: 1 })
        await cache.write('other', { v: 1 })
        await untilNearHit(cache, 'k')
        await raw.sendCommand(['SET', full('k'), 'changed'])
        await until(cache, 'k', 'changed', INVALIDATION_BOUND, 'the raw SET evicted the near entry')
        await untilNearHit(cache, 'other')
        await raw.sendCommand(['FLUSHDB'])
        await until(cache, 'other', undefined, INVALIDATION_BOUND, 'FLUSHDB emptied the near cache')
      })
    }

    test('killing the control connection (the tracking one) flushes, then tracking is enabled again', async () => {
      const { cache, raw, full } = await setup()
      await cache.write('k', { v: 'before' })
      await untilNearHit(cache, 'k')
      const [tracking, ...more] = await connections(raw, /t/)
      assert.equal(more.length, 0, 'one tracking connection')
      await kill(raw, tracking!)
      await raw.sendCommand(['SET', full('k'), 'while untracked'])
      await until(cache, 'k', 'while untracked', LINK_BOUND, 'the near cache was flushed')
      await cache.write('k', { v: 'rewritten' })
      await untilNearHit(cache, 'k')
      const [again] = await connections(raw, /t/)
      assert.notEqual(again, undefined, 'tracking is on again')
      await raw.sendCommand(['SET', full('k'), 'after'])
      await until(cache, 'k', 'after', INVALIDATION_BOUND, 'invalidated again')
    })

    test('killing the subscriber connection flushes, then tracking redirects to its new connection', async () => {
      const { cache, raw, full } = await setup()
      await cache.write('k', { v: 'before' })
      await untilNearHit(cache, 'k')
      const [subscriber, ...more] = await connections(raw, /P/)
      assert.equal(more.length, 0, 'one subscriber connection')
      await kill(raw, subscriber!)
      await raw.sendCommand(['SET', full('k'), 'while down'])
      await until(cache, 'k', 'while down', LINK_BOUND, 'the near cache was flushed')
      await cache.write('k', { v: 'rewritten' })
      await untilNearHit(cache, 'k')
      const [now] = await connections(raw, /P/)
      const [tracking] = await connections(raw, /t/)
      assert.equal(
        / redir=(\d+)/.exec(tracking!)?.[1],
        /^id=(\d+)/.exec(now!)?.[1],
        'redirected to the new one',
      )
      await raw.sendCommand(['SET', full('k'), 'after'])
      await until(cache, 'k', 'after', INVALIDATION_BOUND, 'invalidated again')
    })

    test('a stopped server: the near cache is flushed, and it recovers with the server', async () => {
      const { fleet, server } = await setup(undefined, { reconnectAttempts: 0, retry: { attempts: 1 } })
      // Reads and writes fail safe while Redis is away (a miss, a write that did not happen).
      const cache = fleet.cache({ near: { max: 100 }, errorHandler: () => undefined })
      await cache.write('k', { v: 1 })
      await untilNearHit(cache, 'k')
      await server.stop()
      const deadline = Date.now() + LINK_BOUND
      while ((await cache.read('k')) !== undefined) {
        assert.ok(Date.now() < deadline, 'stale near entries are not served while Redis is away')
        await sleep(10)
      }
      await server.restart()
      // Writes fail at once while the node is known to be down (SPEC §8): until a probe finds it.
      while (!(await cache.write('k', { v: 2 }))) await sleep(10)
      await untilNearHit(cache, 'k')
      assert.deepEqual(await cache.read('k'), { v: 2 })
    })
  })
}
