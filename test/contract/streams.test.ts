import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { setImmediate as tick } from 'node:timers/promises'
import { Cluster, Redis } from 'ioredis'
import { fleetContext } from '../../src/fleet.ts'
import {
  ClosedError,
  CommandError,
  ConfigError,
  type Delivery,
  type Fleet,
  SerializationError,
  type Streams,
} from '../../src/index.ts'
import { closeGrace } from '../../src/lifecycle.ts'
import { resolveOptions } from '../../src/options.ts'
import { streamBackend } from '../../src/streams/access.ts'
import { BLOCK_INTERVAL } from '../../src/streams/consumer.ts'
import { MemoryStreamBackend } from '../../src/streams/memory.ts'
import { RESEND_WINDOW, withPublishId } from '../../src/streams/publish-ids.ts'
import { parseServerUrl } from '../../src/topology/connection.ts'
import { processMemory } from '../../src/topology/memory.ts'
import { HashRing } from '../../src/topology/ring.ts'
import { shortenCloseGrace } from '../harness/close-grace.ts'
import { forEachTopology, type TopologyEnv, topologyOptions } from '../harness/topologies.ts'

/** A promise that resolves once `count` calls of `hit` have happened. */
function counter(count: number) {
  let seen = 0
  let done!: () => void
  const reached = new Promise<void>((resolve) => {
    done = resolve
  })
  if (count === 0) done()
  return {
    reached,
    hit() {
      if (++seen === count) done()
    },
    get seen() {
      return seen
    },
  }
}

/**
 * Raw access to the stream keys, as another program (redis-cli, a crashed consumer) would have:
 * plain XADD with any fields, and XREADGROUP without ever acking.
 */
async function raw(env: TopologyEnv) {
  if (env.topology === 'memory') {
    const backend = new MemoryStreamBackend(processMemory)
    return {
      xadd: async (key: string, fields: string[]) =>
        void (await backend.append([{ key, fields, maxLen: 1e6, approximate: true }])),
      readAsGhost: async (key: string, group: string, count: number) =>
        (await backend.readGroup(key, group, 'ghost', count, 1, [], new AbortController().signal)).length,
      setString: async (key: string) => processMemory.set(key, 'not a stream'),
      close: async () => {},
    }
  }
  const options = await topologyOptions(env.topology)
  const urls = [options.url!].flat()
  let clientOf: (key: string) => Redis | Cluster
  let clients: (Redis | Cluster)[]
  if (env.topology === 'cluster') {
    const cluster = new Cluster(
      urls.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) })),
    )
    clients = [cluster]
    clientOf = () => cluster
  } else {
    const byId = new Map(urls.map((u) => [parseServerUrl(u).id, new Redis(u)]))
    const ring = new HashRing([...byId.keys()])
    clients = [...byId.values()]
    clientOf = (key) => byId.get(ring.nodeFor(key))!
  }
  return {
    xadd: async (key: string, fields: string[]) =>
      void (await clientOf(key).call('XADD', key, '*', ...fields)),
    readAsGhost: async (key: string, group: string, count: number) => {
      const reply = (await clientOf(key).call(
        'XREADGROUP',
        'GROUP',
        group,
        'ghost',
        'COUNT',
        count,
        'STREAMS',
        key,
        '>',
      )) as unknown[]
      const entries = (Array.isArray(reply?.[0]) ? (reply[0] as unknown[])[1] : reply?.[1]) as unknown[]
      return entries?.length ?? 0
    },
    setString: async (key: string) => void (await clientOf(key).set(key, 'not a stream')),
    close: async () => {
      for (const client of clients) client.disconnect()
    },
  }
}

/**
 * Waits for a condition that callbacks make true: they call `changed()`, and `until(check)`
 * resolves as soon as `check()` holds (no polling, no sleeps).
 */
class Watch {
  readonly #waiting = new Set<() => void>()
  changed(): void {
    for (const wake of [...this.#waiting]) wake()
  }
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        if (!check()) return
        this.#waiting.delete(wake)
        resolve()
      }
      this.#waiting.add(wake)
    })
  }
}

async function streamsOf(env: TopologyEnv, ns: string, o?: Parameters<Fleet['streams']>[0]) {
  return (await env.fleet()).withNamespace(ns).streams(o)
}

/** Consumes until `stop()` returns true after a handled entry, then aborts and waits for the loop. */
async function consumeUntil(
  streams: Streams,
  group: string,
  consumer: string,
  handle: (d: Delivery) => Promise<void> | void,
  stop: () => boolean,
  o: Parameters<Streams['consume']>[3] = {},
) {
  const controller = new AbortController()
  await streams.consume(
    group,
    consumer,
    async (d) => {
      try {
        await handle(d)
      } finally {
        if (stop()) controller.abort()
      }
    },
    { ...o, signal: controller.signal },
  )
}

const MIN_IDLE = 150
/**
 * Two rounds of abandoned entries, each idle for minIdle and then found by the next reclaim pass
 * (every minIdle / 2 here), plus the round trips on the way (the claims, the tenth handler's
 * publishes and ghost read, the acks), each bounded by commandTimeout (the default). That the
 * passes keep the minIdle / 2 cadence is the consumer's unit test (stream-consumer.test.ts).
 */
const RECLAIM_BOUND = 2 * (MIN_IDLE + MIN_IDLE / 2) + 10 * resolveOptions({ memory: true }).commandTimeout

forEachTopology('Streams contract', (env) => {
  test('publish writes the main stream and each channel; publishToChannel only its channel', async () => {
    const streams = await streamsOf(env, 'pub')
    await streams.ensureGroup('all')
    const id = await streams.publish({ n: 1, nested: { a: [1, 'x'] } }, ['a', 'b', 'a'])
    assert.match(id, /^\d+-\d+$/)
    assert.deepEqual(
      (await streams.readRange('a')).map((d) => d.envelope),
      [{ n: 1, nested: { a: [1, 'x'] } }],
    )
    assert.deepEqual(
      (await streams.readRange('b')).map((d) => d.envelope),
      [{ n: 1, nested: { a: [1, 'x'] } }],
    )
    assert.deepEqual(await streams.readRange('c'), [])
    await streams.publishToChannel('c', { only: 'c' })
    assert.deepEqual(
      (await streams.readRange('c')).map((d) => d.envelope),
      [{ only: 'c' }],
    )
    assert.equal(await streams.groupLag('all'), 1, 'publishToChannel never writes the main stream')
    const unicode = { s: 'héllo ✓ 日本語 🚀', t: true, f: false, z: null, e: '', n: -1.5 }
    await streams.publishToChannel('u', unicode)
    assert.deepEqual((await streams.readRange('u'))[0]!.envelope, unicode)
  })

  test('a resent publish finds its first copy among the latest RESEND_WINDOW entries; a first send never looks', async () => {
    const fleet = (await env.fleet()).withNamespace('resend')
    const backend = streamBackend(fleetContext(fleet))
    const key = `${env.namespace}:resend:streams:channel:r`
    const write = (publishId: string, data: string) => ({
      key,
      fields: withPublishId(data, publishId),
      maxLen: 10_000,
      approximate: true,
      once: publishId,
    })
    const [first] = await backend.append([write('p1', '{"v":"a"}')])
    // A resend (redfleet's retry) returns the first copy's id and adds nothing.
    assert.deepEqual(await backend.append([write('p1', '{"v":"a"}')], undefined, true), [first])
    // A first send is a plain XADD: it never looks (a new call has a new id anyway).
    const [again] = await backend.append([write('p1', '{"v":"a"}')])
    assert.notEqual(again, first)
    // Found while among the latest RESEND_WINDOW entries (pages of 100 on Redis), not past them.
    const [second] = await backend.append([write('p2', '{"v":"b"}')])
    const fillers = Array.from({ length: RESEND_WINDOW - 1 }, (_, i) => write(`f${i}`, `{"f":${i}}`))
    for (let i = 0; i < fillers.length; i += 200) await backend.append(fillers.slice(i, i + 200))
    assert.deepEqual(await backend.append([write('p2', '{"v":"b"}')], undefined, true), [second])
    await backend.append([write('f', '{}')])
    const [past] = await backend.append([write('p2', '{"v":"b"}')], undefined, true)
    assert.notEqual(past, second)
    // Readers see the envelope only, never the publish id.
    const streams = fleet.streams()
    assert.deepEqual(
      (await streams.readRange('r', undefined, 2)).map((d) => d.envelope),
      [{ v: 'a' }, { v: 'a' }],
    )
  })

  test('ids are monotonic ms-seq strings, also within one millisecond', async () => {
    const streams = await streamsOf(env, 'ids', { channelMaxLen: 1000 })
    const ids: string[] = []
    for (let i = 0; i < 200; i++) ids.push(await streams.publishToChannel('m', { i }))
    const parsed = ids.map((id) => id.split('-').map(Number) as [number, number])
    for (let i = 1; i < parsed.length; i++) {
      const [pm, ps] = parsed[i - 1]!
      const [m, s] = parsed[i]!
      assert.ok(m > pm || (m === pm && s > ps), `${ids[i]} after ${ids[i - 1]}`)
    }
    assert.deepEqual(
      (await streams.readRange('m', '0', 1000)).map((d) => d.id),
      ids,
    )
  })

  test('readRange is exclusive of afterId, starts at 0 or empty, defaults to 500 entries', async () => {
    const streams = await streamsOf(env, 'range', { channelMaxLen: 5000 })
    const ids: string[] = []
    for (let chunk = 0; chunk < 12; chunk++) {
      const batch = Array.from({ length: 100 }, (_, i) => chunk * 100 + i)
      for (const n of batch) ids.push(await streams.publishToChannel('r', { n }))
    }
    const first = await streams.readRange('r')
    assert.equal(first.length, 500)
    assert.deepEqual(
      first.map((d) => d.envelope.n),
      Array.from({ length: 500 }, (_, i) => i),
    )
    assert.deepEqual(
      (await streams.readRange('r', '')).map((d) => d.id),
      first.map((d) => d.id),
    )
    const rest = await streams.readRange('r', first.at(-1)!.id, 1000)
    assert.equal(rest.length, 700)
    assert.equal(rest[0]!.envelope.n, 500)
    assert.deepEqual(
      (await streams.readRange('r', ids[0], 2)).map((d) => d.envelope.n),
      [1, 2],
    )
    assert.deepEqual(await streams.readRange('r', ids.at(-1)), [])
  })

  test('channel and main streams are trimmed approximately to their caps', async () => {
    const streams = await streamsOf(env, 'trim', { channelMaxLen: 10, eventsMaxLen: 50 })
    for (let chunk = 0; chunk < 6; chunk++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => streams.publish({ i: chunk * 100 + i }, ['t'])))
    }
    const kept = (await streams.readRange('t', '0', 10_000)).length
    // Redis trims whole macro nodes (100 entries by default): between the cap and cap + a node.
    assert.ok(kept >= 10 && kept <= 110, `channel kept ${kept}`)
    await streams.ensureGroup('len')
    const main = await streams.groupLag('len')
    assert.ok(main >= 50 && main <= 150, `main stream kept ${main}`)
  })

  test('bad arguments are TypeErrors, unencodable envelopes SerializationErrors, bad options ConfigErrors', async () => {
    const fleet = await env.fleet()
    const streams = fleet.withNamespace('bad').streams()
    await assert.rejects(streams.publish(null as never), TypeError)
    await assert.rejects(streams.publish([1] as never), TypeError)
    await assert.rejects(streams.publish('x' as never), TypeError)
    await assert.rejects(streams.publish({ big: 10n }), SerializationError)
    await assert.rejects(streams.publish({ f: () => 1 }), SerializationError)
    await assert.rejects(streams.publish({}, [''] as never), TypeError)
    await assert.rejects(streams.publish({}, 'a' as never), TypeError)
    await assert.rejects(streams.publishToChannel('', {}), TypeError)
    await assert.rejects(streams.readRange('a', 'nope'), TypeError)
    await assert.rejects(streams.readRange('a', '0', 0), TypeError)
    await assert.rejects(
      streams.consume('g', 'c', () => {}, { batch: 0 }),
      TypeError,
    )
    await assert.rejects(
      streams.consume('g', '', () => {}),
      TypeError,
    )
    await assert.rejects(streams.consume('g', 'c', 'nope' as never), TypeError)
    await assert.rejects(
      streams.tail('a', 'bad-id', () => {}),
      TypeError,
    )
    await assert.rejects(streams.ensureGroup(''), TypeError)
    // Past 2^53 - 1 Redis refuses them (or memory read them rounded): refused alike, up front.
    await streams.publishToChannel('big', { a: 1 })
    for (const id of ['99999999999999999999', '1-18446744073709551616', '18446744073709551615-0']) {
      await assert.rejects(streams.readRange('big', id), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
      await assert.rejects(
        streams.tail('big', id, () => {}),
        { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' },
      )
    }
    await assert.rejects(streams.readRange('big', '0', 1e21), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARGUMENT',
    })
    for (const o of [{ batch: 1e21 }, { minIdle: 1e21 }]) {
      await assert.rejects(
        streams.consume('g', 'c', () => {}, o),
        { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' },
      )
    }
    assert.equal((await streams.readRange('big', '0', Number.MAX_SAFE_INTEGER)).length, 1)
    assert.throws(() => fleet.streams({ channelMaxLen: 0 }), ConfigError)
    assert.throws(() => fleet.streams({ eventsMaxLen: 1.5 }), ConfigError)
    assert.equal(await streams.groupLag('never-made'), 0)
  })

  test('tail from 0 replays then follows, in order; abort cuts its blocked read', async (t) => {
    const streams = await streamsOf(env, 'tail0')
    for (const n of [1, 2, 3]) await streams.publishToChannel('x', { n })
    const seen: number[] = []
    const first = counter(3)
    const all = counter(6)
    const controller = new AbortController()
    const tailing = streams.tail(
      'x',
      '0',
      (d) => {
        seen.push(d.envelope.n as number)
        first.hit()
        all.hit()
      },
      { signal: controller.signal },
    )
    await first.reached
    for (const n of [4, 5, 6]) await streams.publishToChannel('x', { n })
    await all.reached
    // Prompt without a clock: the tail is blocked reading for entry 7 when it is aborted. An
    // abort that waited for that read to end would have it end with the 7 published next, and
    // deliver it; one that cuts the read never sees it, however slow the machine.
    const started = performance.now()
    controller.abort()
    await tick()
    await streams.publishToChannel('x', { n: 7 })
    await tailing
    t.diagnostic(`abort resolved the tail in ${(performance.now() - started).toFixed(0)} ms`)
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6], 'the entry published after the abort was not delivered')
  })

  test('tail without fromId delivers only entries added after it started, without gaps', async () => {
    const streams = await streamsOf(env, 'tailnew')
    for (const n of [-2, -1]) await streams.publishToChannel('y', { n })
    const seen: number[] = []
    const watch = new Watch()
    const controller = new AbortController()
    const tailing = streams.tail(
      'y',
      undefined,
      (d) => {
        seen.push(d.envelope.n as number)
        watch.changed()
      },
      { signal: controller.signal },
    )
    // When the tail's start position is fixed is not observable: publish until it sees one.
    let n = 0
    while (seen.length === 0) {
      await streams.publishToChannel('y', { n: n++ })
      await tick()
    }
    for (let i = 0; i < 20; i++) await streams.publishToChannel('y', { n: n++ })
    await watch.until(() => seen.at(-1) === n - 1)
    controller.abort()
    await tailing
    assert.ok(seen[0]! >= 0, 'entries from before the tail started are not delivered')
    assert.deepEqual(
      seen,
      Array.from({ length: n - seen[0]! }, (_, i) => seen[0]! + i),
    )
  })

  test('tail and tailEvents from $ start where they are called: an entry published right after is delivered', async () => {
    const streams = await streamsOf(env, 'tailstart')
    await streams.publishToChannel('z', { n: 0 })
    await streams.publish({ n: 0 })
    for (const start of [
      (deliver: (d: Delivery) => void, signal: AbortSignal) =>
        streams.tail('z', undefined, deliver, { signal }),
      (deliver: (d: Delivery) => void, signal: AbortSignal) => streams.tailEvents(deliver, { signal }),
    ]) {
      const seen: number[] = []
      const controller = new AbortController()
      const tailing = start((d) => {
        seen.push(d.envelope.n as number)
        if (d.envelope.n === 2) controller.abort()
      }, controller.signal)
      // Not awaited before: the tail's '$' must be fixed ahead of this publish (SPEC §5).
      await streams.publishToChannel('z', { n: 1 })
      await streams.publish({ n: 1 })
      await streams.publishToChannel('z', { n: 2 })
      await streams.publish({ n: 2 })
      await tailing
      assert.deepEqual(seen, [1, 2])
    }
  })

  test('tailEvents: every caller sees every new event of the main stream', async () => {
    const a = await streamsOf(env, 'events')
    const b = await streamsOf(env, 'events')
    const seenA: number[] = []
    const seenB: number[] = []
    const watch = new Watch()
    const controller = new AbortController()
    const into = (list: number[]) => (d: Delivery) => {
      list.push(d.envelope.n as number)
      watch.changed()
    }
    const tails = [
      a.tailEvents(into(seenA), { signal: controller.signal }),
      b.tailEvents(into(seenB), { signal: controller.signal }),
    ]
    let n = 0
    while (seenA.length === 0 || seenB.length === 0) {
      await a.publish({ n: n++ }, ['side'])
      await tick()
    }
    const from = n
    for (let i = 0; i < 30; i++) await b.publish({ n: n++ })
    await watch.until(() => seenA.at(-1) === n - 1 && seenB.at(-1) === n - 1)
    controller.abort()
    await Promise.all(tails)
    const expected = Array.from({ length: 30 }, (_, i) => from + i)
    assert.deepEqual(
      seenA.filter((x) => x >= from),
      expected,
    )
    assert.deepEqual(
      seenB.filter((x) => x >= from),
      expected,
    )
  })

  test('a throwing tail callback ends the tail with its error', async () => {
    const streams = await streamsOf(env, 'tailthrow')
    await streams.publishToChannel('z', { n: 1 })
    await assert.rejects(
      streams.tail('z', '0', () => {
        throw new Error('deliver failed')
      }),
      /deliver failed/,
    )
  })

  test('ensureGroup is idempotent and a new group replays the stream from the start', async () => {
    const streams = await streamsOf(env, 'group')
    for (const n of [1, 2, 3]) await streams.publish({ n })
    await streams.ensureGroup('late')
    await streams.ensureGroup('late')
    const seen: number[] = []
    await consumeUntil(
      streams,
      'late',
      'c1',
      (d) => void seen.push(d.envelope.n as number),
      () => seen.length === 3,
    )
    assert.deepEqual(seen, [1, 2, 3])
    await streams.ensureGroup('late')
    assert.equal(await streams.groupLag('late'), 0, 'ensureGroup on an existing group does not rewind it')
  })

  test('consume handles every entry once, in order, and acks it', async () => {
    const streams = await streamsOf(env, 'consume')
    for (let i = 0; i < 150; i++) await streams.publish({ n: i })
    const seen: number[] = []
    await consumeUntil(
      streams,
      'g',
      'c1',
      (d) => void seen.push(d.envelope.n as number),
      () => seen.length === 150,
      { batch: 16 },
    )
    assert.deepEqual(
      seen,
      Array.from({ length: 150 }, (_, i) => i),
    )
    assert.equal(await streams.groupLag('g'), 0)
  })

  test('failed entries are redelivered after minIdle; after maxDeliveries they are dead-lettered and acked', async () => {
    const streams = await streamsOf(env, 'retry')
    for (let n = 0; n < 5; n++) await streams.publish({ n })
    const attempts = new Map<number, number>()
    const handled = new Set<number>()
    const dead: Delivery[] = []
    const watch = new Watch()
    const controller = new AbortController()
    const deadTail = streams.tail(
      'g:dead',
      '0',
      (d) => {
        dead.push(d)
        watch.changed()
      },
      { signal: controller.signal },
    )
    const consuming = streams.consume(
      'g',
      'c1',
      (d) => {
        const n = d.envelope.n as number
        attempts.set(n, (attempts.get(n) ?? 0) + 1)
        if (n === 1) throw new Error('always fails')
        if (n === 3 && attempts.get(n)! < 2) throw new Error('fails once')
        handled.add(n)
        watch.changed()
      },
      { signal: controller.signal, minIdle: 100, maxDeliveries: 3 },
    )
    await watch.until(() => dead.length === 1 && handled.size === 4)
    controller.abort()
    await Promise.all([consuming, deadTail])
    assert.deepEqual([...handled].sort(), [0, 2, 3, 4])
    assert.equal(attempts.get(1), 3, 'the failing entry was tried exactly maxDeliveries times')
    assert.equal(attempts.get(3), 2)
    assert.equal(dead.length, 1)
    const record = dead[0]!.envelope
    assert.equal(record.group, 'g')
    assert.equal(record.error, 'always fails')
    assert.equal(record.deliveries, 3)
    assert.deepEqual(record.envelope, { n: 1 })
    assert.match(String(record.id), /^\d+-\d+$/)
    assert.equal(await streams.groupLag('g'), 0, 'the dead-lettered entry was acked')
  })

  test('a handler may throw anything: each entry is redelivered, then dead-lettered with the value as text', async () => {
    // String() itself throws for the first two; the fleet's default onError reports each failure.
    const thrown: unknown[] = [
      Object.assign(Object.create(null), { reason: 'null prototype' }),
      {
        toString() {
          throw new Error('no text')
        },
      },
      undefined,
      'a string',
    ]
    const streams = await streamsOf(env, 'odd-throws')
    for (let n = 0; n < thrown.length; n++) await streams.publish({ n })
    const tries = new Map<number, number>()
    await consumeUntil(
      streams,
      'g',
      'c',
      (d) => {
        const n = d.envelope.n as number
        tries.set(n, (tries.get(n) ?? 0) + 1)
        throw thrown[n]
      },
      () => [...tries.values()].filter((count) => count === 2).length === thrown.length,
      { maxDeliveries: 2, minIdle: 50 },
    )
    const records = await streams.readRange('g:dead')
    const errors = new Map(records.map((r) => [(r.envelope.envelope as { n: number }).n, r.envelope.error]))
    assert.equal(errors.size, thrown.length)
    assert.match(String(errors.get(0)), /null prototype/)
    assert.equal(typeof errors.get(1), 'string')
    assert.equal(errors.get(2), 'undefined')
    assert.equal(errors.get(3), 'a string')
    assert.equal(await streams.groupLag('g'), 0)
  })

  test('a custom deadLetter channel receives the dead letters', async () => {
    const streams = await streamsOf(env, 'dlq')
    await streams.publish({ poison: true })
    let tries = 0
    await consumeUntil(
      streams,
      'g',
      'c',
      () => {
        tries++
        throw new Error('nope')
      },
      () => tries === 1,
      { maxDeliveries: 1, deadLetter: 'graveyard' },
    )
    const [record] = await streams.readRange('graveyard')
    assert.equal(record?.envelope.error, 'nope')
    assert.deepEqual(await streams.readRange('g:dead'), [])
    assert.equal(await streams.groupLag('g'), 0)
  })

  test('entries left pending by a crashed consumer are reclaimed while consuming', async (t) => {
    const streams = await streamsOf(env, 'reclaim')
    const rawAccess = await raw(env)
    try {
      await streams.ensureGroup('g')
      for (let n = 0; n < 10; n++) await streams.publish({ n })
      assert.equal(await rawAccess.readAsGhost(`${env.namespace}:reclaim:streams:events`, 'g', 10), 10)
      assert.equal(await streams.groupLag('g'), 10, 'pending entries count as not acked')
      const seen = new Set<number>()
      const started = performance.now()
      // Reclaiming continues while consuming: more entries abandoned later are picked up too.
      let abandonedLater = false
      await consumeUntil(
        streams,
        'g',
        'c1',
        async (d) => {
          seen.add(d.envelope.n as number)
          if (seen.size === 10 && !abandonedLater) {
            abandonedLater = true
            for (let n = 10; n < 15; n++) await streams.publish({ n })
            await rawAccess.readAsGhost(`${env.namespace}:reclaim:streams:events`, 'g', 5)
          }
        },
        () => seen.size === 15,
        { minIdle: MIN_IDLE },
      )
      const took = performance.now() - started
      t.diagnostic(`both rounds reclaimed in ${took.toFixed(0)} ms (bound ${RECLAIM_BOUND} ms)`)
      assert.ok(took < RECLAIM_BOUND, `both rounds reclaimed in ${took.toFixed(0)} ms`)
      assert.equal(seen.size, 15)
      assert.equal(await streams.groupLag('g'), 0)
    } finally {
      await rawAccess.close()
    }
  })

  test('an entry whose consumers died more than maxDeliveries times is dead-lettered without running the handler', async () => {
    const streams = await streamsOf(env, 'overdue')
    const rawAccess = await raw(env)
    try {
      await streams.ensureGroup('g')
      await streams.publish({ n: 'overdue' })
      assert.equal(await rawAccess.readAsGhost(`${env.namespace}:overdue:streams:events`, 'g', 1), 1)
      let called = 0
      const controller = new AbortController()
      const dead: Delivery[] = []
      const watch = new Watch()
      const consuming = streams.consume('g', 'c', () => void called++, {
        signal: controller.signal,
        minIdle: 50,
        maxDeliveries: 1,
      })
      const tailing = streams.tail(
        'g:dead',
        '0',
        (d) => {
          dead.push(d)
          watch.changed()
        },
        { signal: controller.signal },
      )
      await watch.until(() => dead.length === 1)
      controller.abort()
      await Promise.all([consuming, tailing])
      assert.equal(called, 0)
      assert.equal(dead[0]!.envelope.deliveries, 1)
      assert.match(String(dead[0]!.envelope.error), /delivered 1 times without being acknowledged/)
      assert.equal(await streams.groupLag('g'), 0)
    } finally {
      await rawAccess.close()
    }
  })

  test('a command error (the main stream key holds a string) rejects consume; nothing hangs', async () => {
    const streams = await streamsOf(env, 'wrongtype')
    const rawAccess = await raw(env)
    try {
      await rawAccess.setString(`${env.namespace}:wrongtype:streams:events`)
      await assert.rejects(
        streams.consume('g', 'c', () => {}),
        CommandError,
      )
      await assert.rejects(streams.publish({ n: 1 }), CommandError)
      await assert.rejects(
        streams.tailEvents(() => {}),
        CommandError,
      )
    } finally {
      await rawAccess.close()
    }
  })

  test('a dead-letter channel whose key holds a string ends consume with a CommandError naming the channel', async () => {
    const streams = await streamsOf(env, 'wrongdead')
    const rawAccess = await raw(env)
    try {
      await rawAccess.setString(`${env.namespace}:wrongdead:streams:channel:g:dead`)
      await streams.ensureGroup('g')
      await streams.publish({ n: 1 })
      await streams.publish({ n: 2 })
      const handled: unknown[] = []
      const poison = ({ envelope }: Delivery) => {
        handled.push(envelope.n)
        throw new Error('poison')
      }
      const error = await streams.consume('g', 'c', poison, { maxDeliveries: 1 }).then(
        () => assert.fail('consume resolved'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof CommandError, String(error))
      assert.match(error.message, /^streams\.consume deadLetter 'g:dead' failed: WRONGTYPE/)
      // No handler started after the failure: the second entry was handed back, never handled.
      assert.deepEqual(handled, [1])
    } finally {
      await rawAccess.close()
    }
  })

  test('a tail of a channel whose key holds a string rejects with a CommandError naming the channel, not the Redis key', async () => {
    const streams = await streamsOf(env, 'wrongtail')
    const rawAccess = await raw(env)
    try {
      await rawAccess.setString(`${env.namespace}:wrongtail:streams:channel:typed`)
      const error = await streams
        .tail('typed', '0', () => {})
        .then(
          () => assert.fail('the tail resolved'),
          (e: unknown) => e,
        )
      assert.ok(error instanceof CommandError, String(error))
      assert.match(error.message, /^streams\.tail 'typed' failed: WRONGTYPE/)
    } finally {
      await rawAccess.close()
    }
  })

  test('malformed entries (not written by redfleet) are skipped and acked', async () => {
    const streams = await streamsOf(env, 'malformed')
    const rawAccess = await raw(env)
    try {
      await streams.ensureGroup('g')
      const key = `${env.namespace}:malformed:streams:events`
      await rawAccess.xadd(key, ['foo', 'bar'])
      await rawAccess.xadd(key, ['env', 'not json'])
      await rawAccess.xadd(key, ['env', '[1,2]'])
      await rawAccess.xadd(key, ['env', '{"a":1}', 'extra', 'x'])
      await streams.publish({ good: true })
      await rawAccess.xadd(`${env.namespace}:malformed:streams:channel:c`, ['odd', 'x'])
      await streams.publishToChannel('c', { ok: 1 })
      assert.deepEqual(
        (await streams.readRange('c')).map((d) => d.envelope),
        [{ ok: 1 }],
      )
      const seen: unknown[] = []
      await consumeUntil(
        streams,
        'g',
        'c1',
        (d) => void seen.push(d.envelope),
        () => seen.length === 1,
      )
      assert.deepEqual(seen, [{ good: true }])
      assert.equal(await streams.groupLag('g'), 0)
    } finally {
      await rawAccess.close()
    }
  })

  test('groupLag equals the entries not yet acked at each checkpoint', async () => {
    const streams = await streamsOf(env, 'lag')
    assert.equal(await streams.groupLag('g'), 0, 'missing stream')
    await streams.ensureGroup('g')
    assert.equal(await streams.groupLag('g'), 0, 'empty stream')
    for (let n = 0; n < 10; n++) await streams.publish({ n })
    assert.equal(await streams.groupLag('g'), 10)
    let handled = 0
    await consumeUntil(
      streams,
      'g',
      'c1',
      () => void handled++,
      () => handled === 4,
      { batch: 8 },
    )
    assert.equal(await streams.groupLag('g'), 6, '4 handed back unstarted + 2 never delivered')
    for (let n = 10; n < 15; n++) await streams.publish({ n })
    assert.equal(await streams.groupLag('g'), 11)
    const rawAccess = await raw(env)
    try {
      assert.equal(await rawAccess.readAsGhost(`${env.namespace}:lag:streams:events`, 'g', 3), 3)
    } finally {
      await rawAccess.close()
    }
    assert.equal(await streams.groupLag('g'), 11, 'entries pending with a consumer still count')
    // The 4 handed back are reclaimed at once; the ghost's 3 are not idle long enough yet.
    await consumeUntil(
      streams,
      'g',
      'c1',
      () => void handled++,
      () => handled === 4 + 8,
    )
    assert.equal(await streams.groupLag('g'), 3, 'only the ghost-held entries are left')
    assert.equal(await streams.groupLag('other'), 0, 'missing group')
  })

  test('groupLag stays exact once the stream was trimmed past the group (Redis 7.0 over-counts)', async () => {
    const streams = await streamsOf(env, 'lag-trim', { eventsMaxLen: 5 })
    await streams.ensureGroup('g')
    for (let n = 0; n < 2; n++) await streams.publish({ n })
    let handled = 0
    await consumeUntil(
      streams,
      'g',
      'c',
      () => void handled++,
      () => handled === 2,
    )
    // Trimmed (approximately) while the group is not reading: it jumps over what was trimmed.
    let last = ''
    for (let n = 2; n < 302; n++) last = await streams.publish({ n })
    const ids: string[] = []
    await consumeUntil(
      streams,
      'g',
      'c',
      (d) => void ids.push(d.id),
      () => ids.length === 3,
      { batch: 8 },
    )
    const lag = await streams.groupLag('g')
    const rest: string[] = []
    await consumeUntil(
      streams,
      'g',
      'c',
      (d) => void rest.push(d.id),
      () => rest.at(-1) === last,
    )
    assert.equal(lag, rest.length, 'the entries handled after it, and nothing else')
    assert.equal(await streams.groupLag('g'), 0, 'all read and acked')
  })

  test('concurrency runs up to N handlers at once; the default runs one at a time in order', async () => {
    const streams = await streamsOf(env, 'conc')
    for (let n = 0; n < 24; n++) await streams.publish({ n })
    for (const [group, concurrency] of [
      ['one', undefined],
      ['four', 4],
    ] as const) {
      let running = 0
      let most = 0
      const order: number[] = []
      await consumeUntil(
        streams,
        group,
        'c',
        async (d) => {
          running++
          most = Math.max(most, running)
          order.push(d.envelope.n as number)
          await new Promise((r) => setTimeout(r, 5))
          running--
        },
        () => order.length === 24 && running === 0,
        { batch: 12, ...(concurrency ? { concurrency } : {}) },
      )
      assert.equal(most, concurrency ?? 1)
      assert.deepEqual(
        order,
        Array.from({ length: 24 }, (_, i) => i),
        'handlers start in id order',
      )
      assert.equal(await streams.groupLag(group), 0)
    }
  })

  test('abort stops consume after in-flight handlers settle, and resolves within one block interval', async (t) => {
    const streams = await streamsOf(env, 'abort')
    const controller = new AbortController()
    let finished = false
    const started = counter(1)
    const consuming = streams.consume(
      'g',
      'c',
      async () => {
        started.hit()
        await new Promise((r) => setTimeout(r, 100))
        finished = true
      },
      { signal: controller.signal },
    )
    await streams.publish({ n: 1 })
    await started.reached
    controller.abort()
    await consuming
    assert.equal(finished, true, 'the running handler settled before consume resolved')
    assert.equal(await streams.groupLag('g'), 0, 'and its entry was acked')
    // Idle (blocked in a read): abort still resolves at once, not after the block interval. Once
    // it has handled an entry the loop blocks reading for the next; a loop that waited for that
    // read could not end before BLOCK_INTERVAL after it started (Redis holds the read that long),
    // so that is the bound, counted from the start of the consume.
    const idle = new AbortController()
    const handled = counter(1)
    const at = performance.now()
    const idleConsume = streams.consume('g', 'c', () => handled.hit(), { signal: idle.signal })
    await streams.publish({ n: 2 })
    await handled.reached
    await tick()
    idle.abort()
    await idleConsume
    const took = performance.now() - at
    t.diagnostic(`an idle consume started and aborted in ${took.toFixed(0)} ms`)
    assert.ok(took < BLOCK_INTERVAL, `an idle consume ended ${took.toFixed(0)} ms after it started`)
    const pre = new AbortController()
    pre.abort()
    await streams.consume('g', 'c', () => {}, { signal: pre.signal })
  })

  test('fleet.close() stops running loops; a closed fleet refuses new work with ClosedError', async () => {
    const fleet = await env.fleet()
    const streams = fleet.withNamespace('close').streams()
    const consuming = streams.consume('g', 'c', () => {})
    const tailing = streams.tail('ch', '0', () => {})
    const events = streams.tailEvents(() => {})
    await streams.publish({ n: 1 }, ['ch'])
    await fleet.close()
    await Promise.all([consuming, tailing, events])
    await assert.rejects(streams.publish({ n: 2 }), ClosedError)
    await assert.rejects(
      streams.consume('g', 'c', () => {}),
      ClosedError,
    )
    await assert.rejects(
      streams.tail('ch', '0', () => {}),
      ClosedError,
    )
    await assert.rejects(streams.groupLag('g'), ClosedError)
  })

  test('24 loops on one fleet, each with its own signal, raise no MaxListenersExceededWarning', async () => {
    const streams = await streamsOf(env, 'many')
    const warnings: Error[] = []
    const onWarning = (warning: Error) => void warnings.push(warning)
    process.on('warning', onWarning)
    const controllers = Array.from({ length: 24 }, () => new AbortController())
    const watch = new Watch()
    const running = new Set<number>()
    try {
      const loops = controllers.map((c, i) =>
        streams.tailEvents(
          () => {
            running.add(i)
            watch.changed()
          },
          { signal: c.signal },
        ),
      )
      // Every loop is linked to the fleet's signal once it delivers (each starts from '$').
      while (running.size < loops.length) {
        await streams.publish({ n: 1 })
        await Promise.race([watch.until(() => running.size === loops.length), tick()])
      }
      // process.emitWarning emits on the next tick.
      await tick()
      for (const c of controllers) c.abort()
      await Promise.all(loops)
    } finally {
      process.off('warning', onWarning)
    }
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map(String), [])
  })

  /** A fleet whose close waits 20 ms for handlers (for this test), and streams reporting to `reported`. */
  async function shortGrace(t: TestContext, namespace: string) {
    shortenCloseGrace(t, 20)
    const fleet = await env.fleet()
    const reported: unknown[] = []
    const streams = fleet.withNamespace(namespace).streams({ onError: (e) => void reported.push(e) })
    return { fleet, streams, reported }
  }

  test("close waits one grace for every streams object's handlers, not one grace each", async (t) => {
    const grace = 1000
    shortenCloseGrace(t, grace)
    const fleet = await env.fleet()
    const reported: unknown[] = []
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const running: Promise<void>[] = []
    const consuming: Promise<void>[] = []
    for (const name of ['one', 'two', 'three']) {
      const streams = fleet.withNamespace(`graces-${name}`).streams({ onError: (e) => void reported.push(e) })
      await streams.ensureGroup('g')
      let entered!: () => void
      running.push(new Promise<void>((resolve) => (entered = resolve)))
      consuming.push(
        streams.consume('g', 'c', async () => {
          entered()
          await released
        }),
      )
      await streams.publish({ name })
    }
    await Promise.all(running)
    const began = performance.now()
    await fleet.close()
    assert.ok(performance.now() - began < 2 * grace, 'one grace, not one per streams object')
    assert.deepEqual(
      reported.map((e) => (e as Error).name),
      ['ClosedError', 'ClosedError', 'ClosedError'],
      'each abandoned loop is reported',
    )
    release()
    await Promise.all(consuming)
  })

  test('a handler that settles after close gave up on it: its loop ends without reporting the closed connections as an outage', async (t) => {
    const { fleet, streams, reported } = await shortGrace(t, 'late')
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let entered!: () => void
    const started = new Promise<void>((resolve) => {
      entered = resolve
    })
    await streams.ensureGroup('g')
    const consuming = streams.consume('g', 'c', async () => {
      entered()
      await released
    })
    await streams.publish({ n: 1 })
    await started
    await fleet.close()
    await consuming
    assert.deepEqual(
      reported.map((e) => (e as Error).name),
      ['ClosedError'],
      'the abandonment is reported, once',
    )
    // The loop goes on from here: it acks the entry and ends. Its commands meet connections the
    // close ended, at once (no I/O): a few turns of the event loop see it through.
    release()
    for (let turn = 0; turn < 20; turn++) await tick()
    assert.deepEqual(reported.map(String).slice(1), [], 'nothing more')
  })

  test('a handler that awaits fleet.close() is not waited for by it: close drains the other handlers and their acks, and that entry stays pending', async () => {
    // Without this, close waited for the loop, which waited for the handler awaiting close: the
    // whole grace (5 s), then the loop was abandoned with its acks unsent and a ClosedError.
    const fleet = await env.fleet()
    const reported: unknown[] = []
    const streams = fleet.withNamespace('self-close').streams({ onError: (e) => void reported.push(e) })
    await streams.ensureGroup('g')
    for (const n of [1, 2, 3]) await streams.publish({ n })
    let releaseFirst!: () => void
    const first = new Promise<void>((resolve) => {
      releaseFirst = resolve
    })
    let closed = 0
    const consuming = streams.consume(
      'g',
      'c',
      async ({ envelope }) => {
        if (envelope.n === 1) return first
        // Two handlers close (once all three have started): the second while the first runs.
        await tick()
        const closing = fleet.close()
        if (envelope.n === 3) releaseFirst()
        await closing
        closed++
      },
      { concurrency: 3 },
    )
    await consuming
    assert.deepEqual(reported.map(String), [], 'nothing abandoned, nothing reported')
    // The handlers that closed go on after close resolved.
    while (closed < 2) await tick()
    const after = (await env.fleet()).withNamespace('self-close').streams()
    assert.equal(
      await after.groupLag('g'),
      2,
      "the other handler's entry was acked; the closing ones' were not",
    )
  })

  test('a tail callback that awaits fleet.close() ends its loop without being waited for', async () => {
    const fleet = await env.fleet()
    const reported: unknown[] = []
    const streams = fleet.withNamespace('self-close-tail').streams({ onError: (e) => void reported.push(e) })
    await streams.publish({ n: 1 }, ['ch'])
    let closed = false
    await streams.tail('ch', '0', async () => {
      await fleet.close()
      closed = true
    })
    while (!closed) await tick()
    assert.deepEqual(reported.map(String), [])
  })

  test('close() stops waiting for handlers that never settle after its grace: every loop ends, and onError names it', async (t) => {
    // The handlers hang for good, so no grace is long enough for them: a short one only saves time.
    const { fleet, streams, reported } = await shortGrace(t, 'stuck')
    const watch = new Watch()
    const started = new Set<string>()
    const hang = (loop: string) => async () => {
      started.add(loop)
      watch.changed()
      await new Promise(() => {})
    }
    await streams.ensureGroup('g')
    const loops = {
      "streams.consume 'g'": streams.consume('g', 'c', hang('consume')),
      "streams.tail 'ch'": streams.tail('ch', '0', hang('tail')),
      'streams.tailEvents': streams.tailEvents(hang('tailEvents')),
    }
    // tailEvents starts from '$': publish until it has seen one (each reaches the others too).
    while (started.size < 3) {
      await streams.publish({ n: 1 }, ['ch'])
      await Promise.race([watch.until(() => started.size === 3), tick()])
    }
    await fleet.close()
    for (const [what, loop] of Object.entries(loops)) {
      // Settled by the time close() resolved: a macrotask later is no wall-clock bound.
      const outcome = await Promise.race([
        loop.then(
          () => 'resolved',
          (e: unknown) => e,
        ),
        tick(),
      ])
      assert.equal(outcome, 'resolved', `${what}: ${String(outcome ?? 'still pending')}`)
      const report = reported.find((e) => e instanceof ClosedError && e.message.startsWith(`${what}: `))
      assert.ok(report instanceof ClosedError, `${what} reported: ${reported.map(String).join('; ')}`)
      assert.match(report.message, new RegExp(`did not settle within ${closeGrace.ms} ms`))
      // Redelivery and acks are a consumer's: a tail's report does not speak of them.
      assert.equal(
        /redelivered|acked/.test(report.message),
        what.startsWith('streams.consume'),
        report.message,
      )
      assert.equal(report.outcome, 'unknown')
    }
  })

  test('a consumer that close() stops waiting for still acks the handlers that finished and hands back the entries not started', async (t) => {
    const { fleet, streams } = await shortGrace(t, 'cut-off')
    await streams.ensureGroup('g')
    for (let n = 0; n < 6; n++) await streams.publish({ n })
    let hanging!: () => void
    const hangs = new Promise<void>((resolve) => {
      hanging = resolve
    })
    // One batch of six, one handler at a time: 0 and 1 finish, 2 never settles, 3 to 5 never start.
    const consuming = streams.consume('g', 'c', async (d) => {
      if (d.envelope.n !== 2) return
      hanging()
      await new Promise(() => {})
    })
    await hangs
    await fleet.close()
    await consuming
    const again = await streamsOf(env, 'cut-off')
    assert.equal(await again.groupLag('g'), 4, "2's entry and the 3 never started, not 0 and 1")
    // Handed back, they are claimable at once (minIdle is 30 s); 2's waits for minIdle.
    const seen: unknown[] = []
    await consumeUntil(
      again,
      'g',
      'c2',
      (d) => void seen.push(d.envelope.n),
      () => seen.length === 3,
    )
    assert.deepEqual(seen, [3, 4, 5])
  })
})
