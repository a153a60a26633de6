import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ConnectionError, createFleet, type Fleet, RedfleetError } from '../../src/index.ts'
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

function fleet(): Fleet {
  const made = createFleet({
    url: server.url,
    namespace: 'down',
    reconnectAttempts: 0,
    connectTimeout: 200,
    commandTimeout: 200,
    retry: { attempts: 2, base: 10 },
    onError: () => {},
  })
  fleets.push(made)
  return made
}

test('with Redis down, track still runs the job, returns its result or error, and reports the failure', async () => {
  const errors: unknown[] = []
  const tracker = fleet().tracker({ instanceId: 'offline', onError: (e) => errors.push(e) })
  await tracker.start()
  await server.stop()

  const started = Date.now()
  assert.equal(await tracker.track('j-1', { n: 1 }, async () => 42), 42)
  assert.ok(Date.now() - started < 2000, 'a tracking failure fails fast, it does not hold the job back')
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
