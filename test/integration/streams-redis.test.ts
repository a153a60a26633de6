import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { ConnectionError, createFleet, type Delivery } from '../../src/index.ts'
import { BLOCK_INTERVAL } from '../../src/streams/consumer.ts'
import { inbox } from '../harness/inbox.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Redis-only behaviour, on a private server so that connection counts are ours alone. */
describe('streams on a private Redis', () => {
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

  const clients = async () => Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))![1])

  test('blocking reads share a bounded pool of dedicated connections; loops beyond the bound still run', async () => {
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace() })
    const streams = fleet.streams({ maxBlockingConnections: 4 })
    await fleet.ready()
    const baseline = await clients()
    const tails = 10
    const controller = new AbortController()
    const seen = new Set<number>()
    let allSeen!: () => void
    const done = new Promise<void>((resolve) => {
      allSeen = resolve
    })
    const loops = Array.from({ length: tails }, (_, i) =>
      streams.tail(
        `ch${i}`,
        '0',
        () => {
          seen.add(i)
          if (seen.size === tails) allSeen()
        },
        { signal: controller.signal },
      ),
    )
    for (let i = 0; i < tails; i++) await streams.publishToChannel(`ch${i}`, { i })
    await done
    const blocking = (await clients()) - baseline
    assert.ok(blocking >= 1 && blocking <= 4, `${blocking} blocking connections for ${tails} tails`)
    controller.abort()
    await Promise.all(loops)
    await fleet.close()
    assert.ok((await clients()) < baseline, 'close released every connection the fleet opened')
  })

  test('with more loops than blocking connections, each loop still reads within about one block interval', async () => {
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace() })
    const streams = fleet.streams({ maxBlockingConnections: 2 })
    const controller = new AbortController()
    const { signal } = controller
    try {
      await streams.ensureGroup('g')
      // 15 idle tails and a consume: 16 loops on 2 connections.
      const loops = Array.from({ length: 15 }, (_, i) =>
        streams.tail(`idle${i}`, undefined, () => {}, { signal }),
      )
      const handled = inbox<number>()
      loops.push(streams.consume('g', 'c', () => handled.push(performance.now()), { signal }))
      const latencies: number[] = []
      for (let n = 0; n < 4; n++) {
        const published = performance.now()
        await streams.publish({ n })
        latencies.push((await handled.until(n + 1, 10 * BLOCK_INTERVAL))[n]! - published)
      }
      // Each loop blocked for its whole interval in turn: 7 s for the consume to get a read.
      const bound = 2 * BLOCK_INTERVAL
      assert.ok(
        latencies.every((ms) => ms < bound),
        `publish to handler ${latencies.map(Math.round).join(', ')} ms (bound ${bound})`,
      )
      controller.abort()
      await Promise.all(loops)
    } finally {
      controller.abort()
      await fleet.close()
    }
  })

  test('groupLag stays exact where Redis cannot say (XDEL makes lag null) or says too much (trimmed entries)', async () => {
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: server.url, namespace })
    try {
      const key = `${namespace}:streams:events`
      const streams = fleet.streams({ eventsMaxLen: 10 })
      await streams.ensureGroup('g')
      const ids: string[] = []
      for (let n = 0; n < 10; n++) ids.push(await streams.publish({ n }))
      let handled = 0
      const controller = new AbortController()
      await streams.consume(
        'g',
        'c',
        () => {
          if (++handled === 3) controller.abort()
        },
        { signal: controller.signal, batch: 3 },
      )
      await raw.xdel(key, ids[6]!)
      const [info] = (await raw.xinfo('GROUPS', key)) as unknown[][]
      assert.equal(info![info!.indexOf('lag') + 1], null, 'Redis reports no lag after an XDEL past the group')
      assert.equal(await streams.groupLag('g'), 6)

      // A group that falls behind trimming: Redis' lag counts entries trimmed before delivery.
      const trimmed = fleet.withNamespace('trim').streams({ eventsMaxLen: 10 })
      const trimmedKey = `${namespace}:trim:streams:events`
      await trimmed.ensureGroup('slow')
      await trimmed.publish({ first: true })
      const stop = new AbortController()
      await trimmed.consume('slow', 'c', () => stop.abort(), { signal: stop.signal })
      for (let n = 0; n < 350; n++) await trimmed.publish({ n })
      const length = await raw.xlen(trimmedKey)
      assert.ok(length < 350, `the stream was trimmed to ${length}`)
      const [slow] = (await raw.xinfo('GROUPS', trimmedKey)) as unknown[][]
      assert.equal(slow![slow!.indexOf('lag') + 1], 350, 'Redis counts the trimmed entries as lag')
      assert.equal(await trimmed.groupLag('slow'), length)
    } finally {
      await fleet.close()
    }
  })

  test('groupLag after an XDEL counts on the server, from the shorter side of the group, exactly', async () => {
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: server.url, namespace })
    try {
      const key = `${namespace}:streams:events`
      const streams = fleet.streams()
      await streams.ensureGroup('g')
      // 12,001 entries of ~100 bytes: 1.2 MB, were they sent to the process to be counted.
      const pad = 'x'.repeat(90)
      const pipeline = raw.pipeline()
      for (let n = 1; n <= 12_001; n++) pipeline.xadd(key, `${n}-0`, 'pad', pad)
      await pipeline.exec()
      await raw.xdel(key, '12001-0')
      const sent = async () => Number(/total_net_output_bytes:(\d+)/.exec(await raw.info('stats'))![1])
      // Near the start, past the middle (both sides take several calls), near the end.
      for (const position of [3, 6_001, 11_990]) {
        await raw.xgroup('SETID', key, 'g', `${position}-0`)
        const [info] = (await raw.xinfo('GROUPS', key)) as unknown[][]
        assert.equal(
          info![info!.indexOf('lag') + 1],
          null,
          'Redis reports no lag after an XDEL past the group',
        )
        const before = await sent()
        assert.equal(await streams.groupLag('g'), 12_000 - position, `group at ${position}`)
        const bytes = (await sent()) - before
        assert.ok(bytes < 10_000, `group at ${position}: the server sent ${bytes} bytes to count`)
      }
    } finally {
      await fleet.close()
    }
  })

  test('consume and tail ride out a Redis restart (data lost) and go on without user action', async () => {
    const restartable = await startRedis()
    const errors: unknown[] = []
    const fleet = createFleet({
      url: restartable.url,
      namespace: uniqueNamespace(),
      onError: (e) => void errors.push(e),
    })
    try {
      const streams = fleet.streams()
      const consumed: unknown[] = []
      const tailed: unknown[] = []
      let wake = () => {}
      const changed = () => wake()
      const until = (check: () => boolean) =>
        new Promise<void>((resolve) => {
          wake = () => check() && resolve()
          wake()
        })
      const controller = new AbortController()
      const { signal } = controller
      const into = (list: unknown[]) => (d: Delivery) => {
        list.push(d.envelope.n)
        changed()
      }
      const loops = [
        streams.consume('g', 'c', into(consumed), { signal }),
        streams.tail('ch', '0', into(tailed), { signal }),
      ]
      for (const n of [1, 2]) await streams.publish({ n }, ['ch'])
      await until(() => consumed.length === 2 && tailed.length === 2)
      await restartable.restart()
      // Until a probe finds the restarted server (one per 250 ms), a publish is refused at once
      // with outcome 'not-applied': safe to send again, as a user would.
      const publishWhenUp = async (n: number): Promise<void> => {
        for (;;) {
          try {
            await streams.publish({ n }, ['ch'])
            return
          } catch (error) {
            if (!(error instanceof ConnectionError) || error.outcome !== 'not-applied') throw error
            await sleep(50)
          }
        }
      }
      for (const n of [3, 4]) await publishWhenUp(n)
      await until(() => consumed.length === 4 && tailed.length === 4)
      controller.abort()
      await Promise.all(loops)
      assert.deepEqual(consumed, [1, 2, 3, 4])
      assert.deepEqual(tailed, [1, 2, 3, 4])
    } finally {
      await fleet.close()
      await restartable.stop()
    }
  })
})
