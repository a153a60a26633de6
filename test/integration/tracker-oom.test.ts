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

const heartbeatTtl = 600
const heartbeatInterval = 100

/** The server's clock, in ms. */
async function serverNow(): Promise<number> {
  const [seconds, micros] = await raw.time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

test('a full Redis (maxmemory, noeviction) does not let a live worker expire: its running job is no orphan', async () => {
  const namespace = uniqueNamespace()
  const worker = createFleet({ url: server.url, namespace, onError: () => {} })
  const observer = createFleet({ url: server.url, namespace })
  let beats = 0
  let beaten: () => void = () => {}
  const monitor = await monitorServer(server.url, ([command, , , , alive]) => {
    if ((command === 'evalsha' || command === 'eval') && alive?.startsWith(`${namespace}:`)) {
      beats++
      beaten()
    }
  })
  let finish!: () => void
  try {
    const tracker = worker.tracker({ instanceId: 'busy', heartbeatTtl, heartbeatInterval, onError: () => {} })
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
    await raw.config('SET', 'maxmemory', '1')
    // Heartbeats until twice the TTL has passed on the server's clock since it became full.
    const full = await serverNow()
    while ((await serverNow()) - full < 2 * heartbeatTtl) {
      const seen = beats
      await new Promise<void>((resolve) => {
        beaten = resolve
        if (beats > seen) resolve()
      })
    }
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
    monitor.destroy()
    await Promise.all([worker.close(), observer.close()])
  }
})
