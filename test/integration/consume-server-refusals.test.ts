/**
 * SPEC §5: consume ends only when its signal aborts or the fleet closes, or on a command error
 * that repeating cannot fix. A blocking XREADGROUP (and the group's creation at the start) is a
 * write to Redis, which a server refuses while it is out of memory (OOM), has fewer replicas
 * than `min-replicas-to-write` (NOREPLICAS) or failed a background save (MISCONF): a running
 * consume ended on NOREPLICAS and MISCONF, one started under OOM ended at once, and neither came
 * back when the server did (helper-300). tail and inbox (XREAD) rode the same out. Now consume
 * reports the refusal and waits it out.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { command } from '../harness/faults.ts'
import { inbox } from '../harness/inbox.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

/**
 * The refusal `on` makes the server answer to writes, and `off` ends; `when`: the consume it
 * ends, one reading already (XREADGROUP is refused under NOREPLICAS, not under OOM) or one
 * starting (its XGROUP CREATE is refused under both).
 */
const REFUSALS = [
  {
    name: 'NOREPLICAS',
    on: ['CONFIG', 'SET', 'min-replicas-to-write', '1'],
    off: ['CONFIG', 'SET', 'min-replicas-to-write', '0'],
    when: ['running', 'starting'],
  },
  {
    name: 'OOM',
    on: ['CONFIG', 'SET', 'maxmemory', '1'],
    off: ['CONFIG', 'SET', 'maxmemory', '0'],
    when: ['starting'],
  },
] as const

for (const transport of ['ioredis', 'node-redis'] as const) {
  for (const refusal of REFUSALS) {
    for (const when of refusal.when) {
      test(`${transport}: consume ${when} while the server refuses writes (${refusal.name}) reports it and goes on once it ends`, async () => {
        const reported = inbox<string>()
        const fleet = createFleet({
          url: server.url,
          namespace: uniqueNamespace('refusals'),
          transport,
          onError: (error) => reported.push(String(error)),
        })
        const streams = fleet.streams()
        const consumed = inbox<unknown>()
        const stop = new AbortController()
        let consuming: Promise<void> | undefined
        const start = () => {
          consuming = streams.consume('g', 'c', (d) => consumed.push(d.envelope.n), { signal: stop.signal })
        }
        try {
          await streams.ensureGroup('g')
          if (when === 'running') {
            start()
            await streams.publish({ n: 1 })
            await consumed.until(1)
          }
          await command(server.port, ...refusal.on)
          try {
            if (when === 'starting') start()
            await reported.until(1, 30_000)
            assert.match(reported.items.join('\n'), new RegExp(refusal.name))
          } finally {
            await command(server.port, ...refusal.off)
          }
          await streams.publish({ n: 2 })
          await consumed.until(when === 'running' ? 2 : 1, 30_000)
          assert.deepEqual(consumed.items, when === 'running' ? [1, 2] : [2])
        } finally {
          stop.abort()
          await Promise.allSettled([consuming])
          await fleet.close()
        }
      })
    }
  }
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a dead letter a full Redis (OOM) refused is written once it is not, with the handler's last error and deliveries`, async () => {
    const refused = inbox<string>()
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace('refusals'),
      transport,
      onError: (error) => {
        if (/OOM/.test(String(error))) refused.push(String(error))
      },
    })
    const streams = fleet.streams()
    const stop = new AbortController()
    const dead = inbox<Record<string, unknown>>()
    let runs = 0
    let consuming: Promise<void> | undefined
    let tailing: Promise<void> | undefined
    try {
      await streams.ensureGroup('g')
      await streams.publish({ poison: true })
      tailing = streams.tail('g:dead', '0', (d) => dead.push(d.envelope), { signal: stop.signal })
      const handle = async () => {
        // Full from the last failure on: its dead letter is refused.
        if (++runs === 2) await command(server.port, 'CONFIG', 'SET', 'maxmemory', '1')
        throw new Error(`failure #${runs}`)
      }
      consuming = streams.consume('g', 'c', handle, { signal: stop.signal, maxDeliveries: 2, minIdle: 200 })
      try {
        // Refused when due, and again after a reclaim counted one more delivery.
        await refused.until(2, 30_000)
      } finally {
        await command(server.port, 'CONFIG', 'SET', 'maxmemory', '0')
      }
      const [record] = await dead.until(1, 30_000)
      assert.equal(record!.error, 'failure #2', "the handler's last error")
      assert.equal(record!.deliveries, 2, 'the deliveries the handler saw')
      assert.equal(runs, 2)
    } finally {
      stop.abort()
      await command(server.port, 'CONFIG', 'SET', 'maxmemory', '0')
      await Promise.allSettled([consuming, tailing])
      await fleet.close()
    }
  })
}
