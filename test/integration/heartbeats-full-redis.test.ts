/**
 * A full Redis (maxmemory reached under noeviction) refuses writes that may use memory. The
 * heartbeats of a live tracker instance and of a joined member must still go through there:
 * else the worker's running jobs are handed out as orphans, and the member drops out of live()
 * while it runs (helper-314).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { monitorServer } from '../harness/monitor.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
let raw: Redis
before(async () => {
  server = await startRedis()
  raw = new Redis(server.url)
})
after(async () => {
  raw.disconnect()
  await server.stop()
})

// A beat every 100 ms keeps a key of 1.5 s alive through any stall of a loaded machine's timers.
const ttl = 1500
const interval = 100

/** The server's clock, in ms. */
async function serverNow(): Promise<number> {
  const [seconds, micros] = await raw.time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

/**
 * Makes the server full, then waits for the scripts `namespace`'s heartbeats send until twice
 * `ttl` has passed on the server's clock: long enough for a refused heartbeat's key to expire.
 */
async function fullForTwiceTheTtl(namespace: string): Promise<void> {
  let beats = 0
  let beaten: () => void = () => {}
  const monitor = await monitorServer(server.url, ([command, , , key]) => {
    if ((command === 'evalsha' || command === 'eval') && key?.startsWith(`${namespace}:`)) {
      beats++
      beaten()
    }
  })
  try {
    await raw.config('SET', 'maxmemory', '1')
    const full = await serverNow()
    while ((await serverNow()) - full < 2 * ttl) {
      const seen = beats
      await new Promise<void>((resolve) => {
        beaten = resolve
        if (beats > seen) resolve()
      })
    }
  } finally {
    monitor.destroy()
  }
}

test('a full Redis does not let a live worker expire: its running job is no orphan', async () => {
  const namespace = uniqueNamespace()
  const worker = createFleet({ url: server.url, namespace, onError: () => {} })
  const observer = createFleet({ url: server.url, namespace })
  let finish!: () => void
  try {
    const options = { instanceId: 'busy', heartbeatTtl: ttl, heartbeatInterval: interval, onError: () => {} }
    const tracker = worker.tracker(options)
    await tracker.start()
    const running = tracker.track(
      'long-job',
      { n: 1 },
      () => new Promise<void>((resolve) => (finish = resolve)),
    )
    assert.deepEqual(
      (await tracker.inFlight()).map((j) => j.id),
      ['long-job'],
    )
    await fullForTwiceTheTtl(namespace)
    const watcher = observer.tracker()
    assert.deepEqual(
      (await watcher.instances()).map((i) => i.id),
      ['busy'],
      'the worker is live',
    )
    assert.deepEqual(await watcher.orphans(), [], 'its running job is no orphan')
    assert.equal(await watcher.recoverOrphans(() => assert.fail('handed out while it runs')), 0)
    await raw.config('SET', 'maxmemory', '0')
    finish()
    await running
  } finally {
    finish?.()
    await raw.config('SET', 'maxmemory', '0')
    await Promise.all([worker.close(), observer.close()])
  }
})

test('a full Redis does not let a joined member drop out of live(), and refuses a new one', async () => {
  const namespace = uniqueNamespace()
  const fleet = createFleet({ url: server.url, namespace, onError: () => {} })
  const observer = createFleet({ url: server.url, namespace })
  try {
    const membership = fleet.membership({ ttl })
    await membership.heartbeat('m1')
    const member = membership.join('m1', { interval })
    const watcher = observer.membership({ ttl })
    assert.deepEqual(await watcher.live(), ['m1'])
    await fullForTwiceTheTtl(namespace)
    assert.deepEqual(await watcher.live(), ['m1'], 'the member is live')
    // A new member would take memory a full Redis does not have: refused, as any write.
    await assert.rejects(membership.heartbeat('m2'), /OOM/)
    assert.deepEqual(await watcher.live(), ['m1'])
    await raw.config('SET', 'maxmemory', '0')
    await member.stop()
  } finally {
    await raw.config('SET', 'maxmemory', '0')
    await Promise.all([fleet.close(), observer.close()])
  }
})
