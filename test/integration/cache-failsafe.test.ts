/**
 * Rails' failure-safety and failure-raising behaviours (failure_safety_behavior.rb,
 * failure_raising_behavior.rb) against a real Redis that has been stopped: every method returns
 * its fallback and tells errorHandler; a throwing errorHandler makes every call reject; the
 * default handler warns; command errors are handled the same way.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { fleetContext } from '../../src/fleet.ts'
import {
  type Cache,
  ClosedError,
  ConnectionError,
  createFleet,
  type Fleet,
  RedfleetError,
} from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

type Failure = { method: string; returning: unknown; exception: unknown }

let server: RedisServer
let healthy: Fleet
let broken: Fleet
const failures: Failure[] = []
let bad: Cache
let raising: Cache
let cache: Cache
const namespace = uniqueNamespace('failsafe')

before(async () => {
  server = await startRedis()
  // Fail fast: no reconnect wait, no retry, so each failing call takes milliseconds.
  broken = createFleet({
    url: server.url,
    namespace,
    reconnectAttempts: 0,
    retry: { attempts: 1 },
    connectTimeout: 500,
    onError: () => {},
  })
  await broken.ready()
  await server.stop()
  bad = broken.cache({ errorHandler: (info) => failures.push(info) })
  raising = broken.cache({
    errorHandler: ({ exception }) => {
      throw exception
    },
  })
  healthy = createFleet({ url: (await testServers()).standalone, namespace })
  cache = healthy.cache()
})

after(async () => {
  await Promise.all([healthy.close(), broken.close()])
})

/** Runs `call` on the broken cache and returns its result and the one failure it reported. */
async function failing<T>(call: () => Promise<T>): Promise<{ result: T; failure: Failure }> {
  failures.length = 0
  const result = await call()
  assert.equal(failures.length, 1, `one report, got ${failures.map((f) => f.method).join(', ')}`)
  const failure = failures[0]!
  assert.ok(failure.exception instanceof RedfleetError, String(failure.exception))
  return { result, failure }
}

test('test_fetch_read_failure_returns_nil', async () => {
  await cache.write('k', 'x')
  const { result, failure } = await failing(() => bad.fetch('k', {}))
  assert.equal(result, undefined)
  // The method called, as a fetch with a compute reports its read (docs/cache.md).
  assert.equal(failure.method, 'fetch')
})

test('test_fetch_read_failure_does_not_attempt_to_write', async () => {
  await cache.write('k2', 'old')
  failures.length = 0
  assert.equal(await bad.fetch('k2', () => '1'), '1', 'the compute still runs and its value is returned')
  assert.deepEqual(
    failures.map((f) => [f.method, f.returning]),
    [
      ['fetch', undefined],
      ['fetch', false],
    ],
    'the read and the write failed and were reported; no fill lock was attempted',
  )
  assert.equal(await cache.read('k2'), 'old')
})

test('test_read_failure_returns_nil', async () => {
  const { result, failure } = await failing(() => bad.read('k'))
  assert.equal(result, undefined)
  assert.deepEqual([failure.method, failure.returning], ['read', undefined])
  assert.ok(failure.exception instanceof ConnectionError)
  assert.match((failure.exception as Error).message, /cache\.read 'k'/)
})

test('test_read_multi_failure_returns_empty_hash', async () => {
  const { result, failure } = await failing(() => bad.readMulti(['k', 'k2']))
  assert.deepEqual(result, new Map())
  assert.equal(failure.method, 'readMulti')
})

test('test_write_failure_returns_nil', async () => {
  const { result, failure } = await failing(() => bad.write('k', 'x'))
  assert.equal(result, false)
  assert.deepEqual([failure.method, failure.returning], ['write', false])
})

test('test_write_multi_failure_not_raises', async () => {
  const { result, failure } = await failing(() => bad.writeMulti({ a: 1, b: 2 }))
  assert.equal(result, false)
  assert.equal(failure.method, 'writeMulti')
})

test('test_fetch_multi_failure_returns_fallback_results', async () => {
  failures.length = 0
  const result = await bad.fetchMulti(['k', 'k2'], {}, () => 'unavailable')
  assert.deepEqual(
    result,
    new Map([
      ['k', 'unavailable'],
      ['k2', 'unavailable'],
    ]),
  )
  assert.deepEqual(
    failures.map((f) => f.method),
    ['fetchMulti', 'fetchMulti'],
  )
})

test('test_delete_failure_returns_false', async () => {
  const { result, failure } = await failing(() => bad.delete('k'))
  assert.equal(result, false)
  assert.deepEqual([failure.method, failure.returning], ['delete', false])
})

test('test_delete_multi_failure_returns_zero', async () => {
  const { result, failure } = await failing(() => bad.deleteMulti(['k', 'k2']))
  assert.equal(result, 0)
  assert.deepEqual([failure.method, failure.returning], ['deleteMulti', 0])
})

test('test_exist_failure_returns_false', async () => {
  const { result, failure } = await failing(() => bad.exist('k'))
  assert.equal(result, false)
  assert.equal(failure.method, 'exist')
})

test('test_increment_failure_returns_nil', async () => {
  const { result, failure } = await failing(() => bad.increment('k'))
  assert.equal(result, undefined)
  assert.deepEqual([failure.method, failure.returning], ['increment', undefined])
})

test('test_decrement_failure_returns_nil', async () => {
  const { result, failure } = await failing(() => bad.decrement('k'))
  assert.equal(result, undefined)
  assert.equal(failure.method, 'decrement')
})

test('test_clear_failure_returns_nil', async () => {
  const { result, failure } = await failing(() => bad.clear())
  assert.equal(result, undefined)
  assert.equal(failure.method, 'clear')
})

test('deleteMatched, readCounter, writeCounter and invalidateTag are failsafe too', async () => {
  assert.equal((await failing(() => bad.deleteMatched('*'))).result, 0)
  assert.equal((await failing(() => bad.readCounter('c'))).result, undefined)
  assert.equal((await failing(() => bad.writeCounter('c', 1))).result, false)
  assert.equal((await failing(() => bad.invalidateTag('t'))).result, undefined)
  assert.ok(bad.stats().errors >= 4)
})

test('failure raising: a throwing errorHandler makes every method reject with the error', async () => {
  const calls: [string, () => Promise<unknown>][] = [
    ['test_fetch_read_failure_raises', () => raising.fetch('k', {})],
    ['test_read_failure_raises', () => raising.read('k')],
    ['test_read_multi_failure_raises', () => raising.readMulti(['k', 'k2'])],
    ['test_write_failure_raises', () => raising.write('k', 1)],
    ['test_write_multi_failure_raises', () => raising.writeMulti({ a: 1 })],
    ['test_fetch_multi_failure_raises', () => raising.fetchMulti(['k', 'k2'], {}, () => 'x')],
    ['test_delete_failure_raises', () => raising.delete('k')],
    ['test_exist_failure_raises', () => raising.exist('k')],
    ['test_increment_failure_raises', () => raising.increment('k')],
    ['test_decrement_failure_raises', () => raising.decrement('k')],
    ['test_clear_failure_raises', () => raising.clear()],
  ]
  for (const [name, call] of calls) await assert.rejects(call(), ConnectionError, name)
})

test('test_fetch_with_block_read_failure_raises: the compute never runs', async () => {
  let ran = false
  await assert.rejects(
    raising.fetch('k', () => {
      ran = true
      return 1
    }),
    ConnectionError,
  )
  assert.equal(ran, false)
})

test('the default errorHandler is a process warning naming the method and the fallback', async () => {
  // A command error: a node that is down is announced once by the topology, not on every call.
  const quiet = healthy.cache({ namespace: 'default-handler' })
  await quiet.write('not-a-counter', { an: 'envelope' })
  const warned = new Promise<Error>((resolve) => process.once('warning', resolve))
  assert.equal(await quiet.increment('not-a-counter'), undefined)
  const warning = await warned
  assert.equal(warning.name, 'RedfleetWarning')
  assert.match(
    warning.message,
    /^redfleet cache\.increment failed, returned undefined: cache\.increment 'not-a-counter' failed/,
  )
})

test('command errors (WRONGTYPE, not an integer) are reported the same way', async () => {
  const seen: Failure[] = []
  const handled = healthy.cache({ errorHandler: (info) => seen.push(info) })
  await handled.write('envelope', { not: 'a counter' })
  assert.equal(await handled.increment('envelope'), undefined)
  assert.equal(seen[0]?.method, 'increment')
  assert.match(String(seen[0]?.exception), /not an integer/)
})

test('a closed fleet is not a failure to absorb: ClosedError rejects', async () => {
  const fleet = createFleet({ url: (await testServers()).standalone, namespace })
  const closedCache = fleet.cache({ errorHandler: () => {} })
  await fleet.close()
  await assert.rejects(closedCache.read('k'), ClosedError)
})

test('transient failures are retried per the retry policy before errorHandler hears of them', async () => {
  const paused = await startRedis()
  const commandTimeout = 1000
  const fleet = createFleet({
    url: paused.url,
    namespace,
    commandTimeout,
    retry: { attempts: 6, base: 100, factor: 2, jitter: 0 },
    onError: () => {},
  })
  const admin = createFleet({ url: paused.url, namespace })
  try {
    await fleet.ready()
    const seen: Failure[] = []
    const retrying = fleet.cache({ errorHandler: (info) => seen.push(info) })
    // Longer than one attempt may take, shorter than the retries: the first attempt times out
    // (a transient failure), a later one goes through once the pause ends.
    const client = await fleetContext(admin).redis()
    await client.client('k').call('CLIENT', 'PAUSE', String(commandTimeout * 1.5), 'WRITE')
    assert.equal(await retrying.write('k', 'written after the pause'), true)
    assert.deepEqual(seen, [])
    assert.equal(await retrying.read('k'), 'written after the pause')
  } finally {
    await fleet.close()
    await admin.close()
    await paused.stop()
  }
})
