/**
 * The cache through faults of a real server (issue 10): a counter is applied exactly once or
 * reported with outcome 'unknown', never twice by redfleet's own retries; a fetch waiting on
 * another process's fill lock keeps waiting while its connections are killed under it.
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { before, test } from 'node:test'
import { createFleet, type Fleet, TimeoutError } from '../../src/index.ts'
import { pausableServer } from '../harness/pausable-server.ts'

type Failure = { method: string; returning: unknown; exception: unknown }

const server = pausableServer()
let fleet: Fleet
const commandTimeout = 1000

before(async () => {
  await server.started
  // The default retry policy: what would re-send an increment, were it not known to count twice.
  fleet = server.fleet({ commandTimeout })
  await fleet.ready()
})

for (const [method, by, expected] of [
  ['increment', 5, 5],
  ['decrement', 5, -5],
] as const) {
  test(`CLIENT PAUSE longer than commandTimeout during ${method}: applied at most once, reported as outcome 'unknown'`, async () => {
    const seen: Failure[] = []
    const cache = fleet.cache({ namespace: `${method}-pause`, errorHandler: (info) => seen.push(info) })
    for (const expiresIn of [undefined, 60_000]) {
      const key = `counter-${expiresIn ?? 'plain'}`
      seen.length = 0
      // Writes wait until the pause ends (far beyond commandTimeout); reads are still served.
      await server.pause(commandTimeout * 10, 'WRITE')
      try {
        assert.equal(await cache[method](key, by, { expiresIn }), undefined, 'the failsafe returns undefined')
      } finally {
        await server.unpause()
      }
      assert.equal(seen.length, 1, 'errorHandler heard of it once')
      assert.equal(seen[0]!.method, method)
      assert.ok(seen[0]!.exception instanceof TimeoutError)
      assert.equal((seen[0]!.exception as TimeoutError).outcome, 'unknown')
      // The one copy sent is applied when the pause ends, or never (its connection was dropped
      // on the timeout); never more than once. test/unit/cache-mechanisms.test.ts counts sends.
      const value = await cache.readCounter(key)
      assert.ok(value === undefined || value === expected, `applied at most once (got ${value})`)
    }
  })
}

test('CLIENT PAUSE just past commandTimeout during a write with unlessExist: the winner is told true, or hears the outcome is unknown', async () => {
  const seen: Failure[] = []
  const cache = fleet.cache({ namespace: 'claim-pause', errorHandler: (info) => seen.push(info) })
  const key = 'lock'
  // The first SET times out and is applied when the pause ends; a retry sent meanwhile would be
  // run after it, find the caller's own value there and answer false: a winner told it lost.
  await server.pause(commandTimeout + 300, 'WRITE')
  let written: boolean
  try {
    written = await cache.write(key, 'mine', { unlessExist: true })
  } finally {
    await server.unpause()
  }
  assert.equal(await cache.read(key), 'mine', 'the write was applied when the pause ended')
  if (!written) {
    assert.equal(seen.length, 1, 'a false from the winner comes with a report')
    assert.ok(seen[0]!.exception instanceof TimeoutError)
    assert.equal((seen[0]!.exception as TimeoutError).outcome, 'unknown')
  }
})

test('a fetch waiting on another fleet’s fill lock rides out failing lock attempts until the value is there', async () => {
  const namespace = `waiter-${process.pid}`
  const seen: Failure[] = []
  const holderFleet = createFleet({ url: server.url, namespace: fleet.namespace })
  // Fails fast: each lock attempt times out after waiterTimeout, and only one retry.
  const waiterTimeout = 300
  const waiterFleet = createFleet({
    url: server.url,
    namespace: fleet.namespace,
    commandTimeout: waiterTimeout,
    retry: { attempts: 2 },
  })
  // Every command of a fetch that ended, by key: the waiter is waiting once its first lock
  // attempt has. `redfleet:command` traces each command a cache call sends.
  const ended: string[] = []
  const isFetch = (context: unknown) => (context as { op: string }).op === 'cache.fetch'
  const onEnd = (context: unknown) => {
    if (isFetch(context)) ended.push(String((context as { key?: string }).key))
  }
  const channel = diagnosticsChannel.tracingChannel('redfleet:command')
  let failures = 0
  const onError = (context: unknown) => {
    if (isFetch(context)) failures++
  }
  const handlers = { start() {}, end() {}, asyncStart() {}, asyncEnd: onEnd, error: onError }
  channel.subscribe(handlers)
  try {
    const holder = holderFleet.cache({ namespace, lockTimeout: 60_000, errorHandler: (i) => seen.push(i) })
    const waiter = waiterFleet.cache({ namespace, lockTimeout: 60_000, errorHandler: (i) => seen.push(i) })
    await waiterFleet.ready()
    let holding!: () => void
    const held = new Promise<void>((resolve) => (holding = resolve))
    let finish!: () => void
    const finished = new Promise<void>((resolve) => (finish = resolve))
    const filling = holder.fetch('k', async () => {
      holding()
      await finished
      return 'the holder’s value'
    })
    await held
    const before = ended.length // the holder's GET and lock
    let computed = false
    const waiting = waiter.fetch('k', () => {
      computed = true
      return 'the waiter’s value'
    })
    while (ended.length < before + 2) await new Promise((resolve) => setImmediate(resolve))
    // The waiter saw the lock held. Now its lock attempts (writes) hang past its timeout, with
    // retries, until two of them have failed for good: it must keep waiting through that rather
    // than give up and compute.
    await server.pause(60_000, 'WRITE')
    while (failures < 2) await new Promise((resolve) => setImmediate(resolve))
    await server.unpause()
    finish()
    assert.equal(await filling, 'the holder’s value')
    assert.equal(await waiting, 'the holder’s value')
    assert.equal(computed, false, 'the waiter did not give up and compute')
    assert.deepEqual(
      seen.map((failure) => failure.method),
      [],
      'nothing failed',
    )
  } finally {
    channel.unsubscribe(handlers)
    await server.unpause()
    await Promise.all([holderFleet.close(), waiterFleet.close()])
  }
})
