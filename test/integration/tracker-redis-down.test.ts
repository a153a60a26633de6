import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { ConnectionError, createFleet, type Fleet, RedfleetError } from '../../src/index.ts'
import { backoffDelay, resolveRetry } from '../../src/retry.ts'
import { waitUntil } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

// A private server this file stops: the tracker must keep running jobs when Redis is gone.
let server: RedisServer
const fleets: Fleet[] = []

before(async () => {
  server = await startRedis()
})
after(async () => {
  await Promise.all(fleets.map((f) => f.close()))
  await server.stop()
})

const connectTimeout = 200
const commandTimeout = 200
const retry = { attempts: 2, base: 10 }
/**
 * The longest a track() with Redis down may spend on tracking: `retry.attempts` tries of the
 * record, each settling within connectTimeout + commandTimeout, the backoff between them, and
 * one removal of the maybe-written record afterwards (one more connect + command). Twice that is
 * asserted, as a margin for a loaded machine; a tracker that waited for Redis would hang.
 */
const policy = resolveRetry(retry)
let backoffs = 0
for (let n = 1; n < policy.attempts; n++) backoffs += backoffDelay(n, policy, () => 1)
const TRACKING_BOUND = 2 * ((policy.attempts + 1) * (connectTimeout + commandTimeout) + backoffs)

function fleet(): Fleet {
  const made = createFleet({
    url: server.url,
    namespace: 'down',
    reconnectAttempts: 0,
    connectTimeout,
    commandTimeout,
    retry,
    onError: () => {},
  })
  fleets.push(made)
  return made
}

test('with Redis down, track still runs the job, returns its result or error, and reports the failure', async (t) => {
  const errors: unknown[] = []
  const tracker = fleet().tracker({ instanceId: 'offline', onError: (e) => errors.push(e) })
  await tracker.start()
  await server.stop()

  const started = performance.now()
  assert.equal(await tracker.track('j-1', { n: 1 }, async () => 42), 42)
  const took = performance.now() - started
  t.diagnostic(`track with Redis down took ${took.toFixed(0)} ms (bound ${TRACKING_BOUND} ms)`)
  assert.ok(
    took < TRACKING_BOUND,
    `a tracking failure is given up by the retry policy (${took.toFixed(0)} ms)`,
  )
  assert.ok(errors.length >= 1, 'the tracking failure is reported')
  assert.ok(errors.every((e) => e instanceof RedfleetError))
  assert.ok(errors.some((e) => e instanceof ConnectionError || (e as RedfleetError).code === 'ERR_TIMEOUT'))

  const failure = new Error('the job itself failed')
  await assert.rejects(
    tracker.track('j-2', null, async () => {
      throw failure
    }),
    (error) => error === failure,
  )
  // Reads cannot succeed, and say so.
  await assert.rejects(tracker.instances(), RedfleetError)
  // stop() cannot reach Redis either: it rejects, but the timers are stopped anyway.
  await assert.rejects(tracker.stop(), RedfleetError)
})

test('a tracker made while Redis is down runs jobs too, and tracks again once Redis is back', async () => {
  const errors: unknown[] = []
  const tracker = fleet().tracker({ instanceId: 'late', onError: (e) => errors.push(e) })
  assert.equal(await tracker.track('j-3', 'x', async () => 'ran'), 'ran')
  assert.ok(errors.length >= 1)
  await assert.rejects(tracker.start(), RedfleetError, 'start reports that the first heartbeat failed')

  await server.restart()
  // ioredis reconnects in the background; the next start succeeds once it has.
  const deadline = Date.now() + 5000
  for (;;) {
    try {
      await tracker.start()
      break
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const seen = await tracker.track('j-4', 'y', () => tracker.inFlight())
  assert.deepEqual(
    seen.map((j) => j.id),
    ['j-4'],
  )
  assert.deepEqual(await tracker.inFlight(), [])
  await tracker.stop()
})

test('a job whose record could not be removed as it settled is untracked by a later heartbeat, never left an orphan', async () => {
  const errors: unknown[] = []
  const tracker = fleet().tracker({
    instanceId: 'refused',
    heartbeatInterval: 50,
    onError: (e) => errors.push(e),
  })
  await tracker.start()
  const raw = new Redis(server.url)
  try {
    // Every write refused while the job settles (NOREPLICAS), as READONLY after a demotion is.
    const done = await tracker.track('j-5', 'z', async () => {
      await raw.config('SET', 'min-replicas-to-write', '1')
      return 'done'
    })
    assert.equal(done, 'done')
    assert.ok(
      errors.some((e) => /NOREPLICAS/.test(String(e))),
      'the failed removal is reported',
    )
    // Still listed while writes are refused (reads are not).
    assert.deepEqual(
      (await tracker.inFlight()).map((job) => job.id),
      ['j-5'],
    )
    await raw.config('SET', 'min-replicas-to-write', '0')
    await waitUntil('a heartbeat to remove the record', async () => (await tracker.inFlight()).length === 0)
    await tracker.stop()
    // Gone, the instance leaves nothing another would take for an orphan.
    assert.deepEqual(await tracker.orphans(), [])
  } finally {
    await raw.config('SET', 'min-replicas-to-write', '0')
    raw.disconnect()
  }
})

for (const end of ['stop', 'stop({ releaseJobs: true })', 'fleet.close()'] as const) {
  test(`a record Redis refused to remove is removed by ${end} before the next heartbeat`, async () => {
    const made = fleet()
    // No heartbeat between Redis taking writes again and the end: the end removes it.
    const tracker = made.tracker({
      instanceId: `ended-${end}`,
      heartbeatInterval: 600_000,
      heartbeatTtl: 1_200_000,
    })
    await tracker.start()
    const raw = new Redis(server.url)
    try {
      await tracker.track('j-6', 'z', () => raw.config('SET', 'min-replicas-to-write', '1'))
      await raw.config('SET', 'min-replicas-to-write', '0')
      if (end === 'fleet.close()') await made.close()
      else await tracker.stop({ releaseJobs: end !== 'stop' })
      const other = fleet().tracker({ instanceId: 'another' })
      assert.deepEqual(
        (await other.orphans()).filter((job) => job.instanceId === `ended-${end}`),
        [],
      )
    } finally {
      await raw.config('SET', 'min-replicas-to-write', '0')
      raw.disconnect()
    }
  })
}
