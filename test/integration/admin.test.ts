import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  deadLetterChannels,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetters,
} from '../../src/admin/dead-letters.ts'
import { streamLength } from '../../src/admin/keys.ts'
import { listOrphans, releaseOrphan } from '../../src/admin/orphans.ts'
import { fleetContext } from '../../src/fleet.ts'
import type { Delivery, Fleet, Streams } from '../../src/index.ts'
import { inspectFleet } from '../../src/inspect.ts'
import { streamBackend } from '../../src/streams/access.ts'
import { decodeEntry } from '../../src/streams/entry.ts'
import { START_ID } from '../../src/streams/ids.ts'
import type { MemoryStream } from '../../src/streams/memory-stream.ts'
import { monitorServer } from '../harness/monitor.ts'
import { runWorker } from '../harness/processes.ts'
import { forEachTopology, type TopologyEnv, topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

/** Liveness that outlasts any test on a loaded machine: only what the test stops is gone. */
const LONG = 600_000

/** A fleet in a namespace of its own: each test sees only its own streams and jobs. */
async function freshFleet(env: TopologyEnv): Promise<Fleet> {
  return (await env.fleet()).withNamespace(uniqueNamespace())
}

/** Resolves with the first `count` entries of a channel (from its start), read by a tail. */
async function firstEntries(streams: Streams, channel: string, count: number): Promise<Delivery[]> {
  const seen: Delivery[] = []
  const stop = new AbortController()
  await streams.tail(
    channel,
    '0',
    (delivery) => {
      seen.push(delivery)
      if (seen.length === count) stop.abort()
    },
    { signal: stop.signal },
  )
  return seen
}

/**
 * Publishes `orders` and lets a real consume loop of `group` fail on each once, with
 * maxDeliveries 1: each becomes a dead letter in `${group}:dead`. Returns the main-stream ids.
 */
async function deadLetters(fleet: Fleet, group: string, orders: number[]): Promise<string[]> {
  const streams = fleet.streams()
  await streams.ensureGroup(group)
  const ids: string[] = []
  for (const order of orders) ids.push(await streams.publish({ order }))
  const stop = new AbortController()
  const consuming = streams.consume(
    group,
    'failing',
    (d) => {
      throw new Error(`cannot bill order ${d.envelope.order}`)
    },
    { signal: stop.signal, maxDeliveries: 1 },
  )
  await firstEntries(streams, `${group}:dead`, orders.length)
  stop.abort()
  await consuming
  return ids
}

/** XGROUP DESTROY of `group` on the main stream (a memory fleet: its group dropped). */
async function destroyGroup(fleet: Fleet, group: string): Promise<void> {
  const ctx = fleetContext(fleet)
  const key = ctx.keys.key('streams', 'events')
  if (ctx.topology === 'memory') ctx.memory.get<MemoryStream>(key)!.groups.delete(group)
  else await (await ctx.redis()).client(key).call('XGROUP', 'DESTROY', key, group)
}

/** Consumes `group` until `count` entries were handled; resolves with their envelopes. */
async function handle(fleet: Fleet, group: string, count: number): Promise<{ all: Promise<unknown[]> }> {
  const handled: unknown[] = []
  const stop = new AbortController()
  let done!: () => void
  const enough = new Promise<void>((resolve) => {
    done = resolve
  })
  const consuming = fleet.streams().consume(
    group,
    `ok-${group}`,
    (d) => {
      handled.push(d.envelope)
      if (handled.length === count) done()
    },
    { signal: stop.signal },
  )
  return {
    all: enough.then(async () => {
      stop.abort()
      await consuming
      return handled
    }),
  }
}

/** Waits until `check` holds, checking after each of the fleet's own answers (no fixed sleep). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setImmediate(resolve))
}

/**
 * Writes `count` dead-letter records of `group` into `${group}:dead` (as a consume loop would),
 * the group made first: a replay refuses letters of a group the main stream does not have.
 */
async function writeDeadLetters(fleet: Fleet, group: string, count: number): Promise<void> {
  const streams = fleet.streams()
  await streams.ensureGroup(group)
  for (let n = 0; n < count; n++) {
    await streams.publishToChannel(`${group}:dead`, {
      id: `1-${n}`,
      group,
      error: 'declined',
      deliveries: 1,
      envelope: { order: n },
      deadAt: Date.now(),
    })
  }
}

/** Entries of the fleet's main stream. */
function mainLength(fleet: Fleet): Promise<number> {
  const ctx = fleetContext(fleet)
  return streamLength(ctx, ctx.keys.key('streams', 'events'))
}

forEachTopology('admin: dead letters', (env) => {
  test('two replays of one channel at once replay each letter once between them, and their counts add up', async () => {
    const a = await freshFleet(env)
    // Another fleet (its own connections) on the same namespace; memory fleets share nothing.
    const b = env.topology === 'memory' ? a : (await env.fleet()).withNamespace(a.namespace.split(':').pop()!)
    assert.equal(b.namespace, a.namespace)
    await b.ready() // connected, as `a` is: both replays start their reads together
    const letters = 40
    await writeDeadLetters(a, 'race', letters)
    const [x, y] = await Promise.all([replayDeadLetters(a, 'race:dead'), replayDeadLetters(b, 'race:dead')])
    assert.equal(x + y, letters, `replayed ${x} + ${y}`)
    assert.equal(await mainLength(a), letters)
    assert.deepEqual(await listDeadLetters(a, 'race:dead'), [])
    // Purges at once count what each deleted.
    await writeDeadLetters(a, 'race', letters)
    const [p, q] = await Promise.all([purgeDeadLetters(a, 'race:dead'), purgeDeadLetters(b, 'race:dead')])
    assert.equal(p + q, letters, `purged ${p} + ${q}`)
  })

  test('a replay whose append Redis refuses leaves every letter it did not replay in the channel', async (t) => {
    if (env.topology === 'memory')
      return t.skip('plants a key of another type with the raw Redis client, which memory has not')
    const fleet = await freshFleet(env)
    await writeDeadLetters(fleet, 'stuck', 3)
    const ctx = fleetContext(fleet)
    const main = ctx.keys.key('streams', 'events')
    await (await ctx.redis()).client(main).set(main, 'not a stream')
    await assert.rejects(replayDeadLetters(fleet, 'stuck:dead'), /WRONGTYPE/)
    const left = await listDeadLetters(fleet, 'stuck:dead')
    assert.deepEqual(
      left.map((l) => l.envelope),
      [{ order: 0 }, { order: 1 }, { order: 2 }],
    )
  })

  test('a replay killed between its two steps loses no letter, and the next replay appends none twice', async (t) => {
    if (env.topology === 'memory' || env.topology === 'standalone') {
      return t.skip('one script replays each page here: there is no step between')
    }
    const fleet = await freshFleet(env)
    const ctx = fleetContext(fleet)
    const main = ctx.keys.key('streams', 'events')
    const topology = await ctx.redis()
    // A group whose dead-letter channel no script can touch with the main stream.
    let group = 'crash-0'
    for (
      let n = 1;
      (await topology.batches([ctx.keys.key('streams', 'channel', `${group}:dead`), main])).length === 1;
      n++
    ) {
      group = `crash-${n}`
    }
    const letters = 6
    await writeDeadLetters(fleet, group, letters)
    const options = { ...(await topologyOptions(env.topology)), namespace: fleet.namespace }
    await assert.rejects(runWorker('dlq-replay-crash.ts', { options, channel: `${group}:dead` }), /SIGKILL/)
    assert.equal(
      await replayDeadLetters(fleet, `${group}:dead`),
      letters,
      'the next replay removes every letter',
    )
    assert.deepEqual(await listDeadLetters(fleet, `${group}:dead`), [])
    const entries = await streamBackend(ctx).range(main, START_ID, 100)
    const orders = entries.map((entry) => decodeEntry(entry, group)?.envelope.order).sort()
    assert.deepEqual(orders, [0, 1, 2, 3, 4, 5], 'each letter is on the main stream once')
  })

  test('a replay looks for earlier copies once per page, not once per letter', async (t) => {
    if (env.topology === 'memory' || env.topology === 'standalone') {
      return t.skip('one script replays each page here: nothing is looked for')
    }
    const fleet = await freshFleet(env)
    const ctx = fleetContext(fleet)
    const main = ctx.keys.key('streams', 'events')
    const topology = await ctx.redis()
    let group = 'look-0'
    for (
      let n = 1;
      (await topology.batches([ctx.keys.key('streams', 'channel', `${group}:dead`), main])).length === 1;
      n++
    ) {
      group = `look-${n}`
    }
    // A main stream longer than the look-up window: every look reads the whole window.
    const streams = fleet.streams()
    await Promise.all(Array.from({ length: 1200 }, (_, n) => streams.publish({ filler: n })))
    const letters = 40
    await writeDeadLetters(fleet, group, letters)
    const { url } = await topologyOptions(env.topology)
    let looks = 0
    let sawEnd!: () => void
    const end = new Promise<void>((resolve) => {
      sawEnd = resolve
    })
    const monitors = await Promise.all(
      [url as string[]].flat().map((node) =>
        monitorServer(node, (args) => {
          const name = args[0]?.toLowerCase()
          if (name === 'xrevrange' && args[1] === main) looks++
          if (name === 'pttl' && args[1] === main) sawEnd()
        }),
      ),
    )
    try {
      assert.equal(await replayDeadLetters(fleet, `${group}:dead`), letters)
      // A command of its own after the replay's, on the main stream's node (a keyed one: a
      // cluster sends a keyless one anywhere): once seen, so were the replay's. Not EXISTS, which
      // the replay's own group check runs first.
      await topology.client(main).call('PTTL', main)
      await end
    } finally {
      for (const monitor of monitors) monitor.destroy()
    }
    // One look reads the latest 1,000 entries 100 at a time: 10 reads for the page, 400 per letter.
    assert.ok(looks > 0 && looks <= 10, `${looks} reads of the main stream`)
  })

  test('a dead letter of a real consume loop is listed with its origin, group, error and envelope', async () => {
    const fleet = await freshFleet(env)
    const [origin] = await deadLetters(fleet, 'billing', [1])
    const [letter, ...rest] = await listDeadLetters(fleet, 'billing:dead')
    assert.equal(rest.length, 0)
    assert.deepEqual(
      { ...letter, id: undefined, deadAt: undefined },
      {
        id: undefined,
        deadAt: undefined,
        channel: 'billing:dead',
        origin: { channel: undefined, id: origin },
        group: 'billing',
        error: 'cannot bill order 1',
        deliveries: 1,
        envelope: { order: 1 },
      },
    )
    assert.ok(letter!.deadAt > 0)
    assert.deepEqual(await deadLetterChannels(fleet), [{ channel: 'billing:dead', length: 1 }])
    assert.deepEqual(await listDeadLetters(fleet, 'billing:dead', { afterId: letter!.id }), [])
  })

  test('replay puts dead letters back for their group only: a consumer of it handles them, other groups do not', async () => {
    const fleet = await freshFleet(env)
    await fleet.streams().ensureGroup('audit')
    await deadLetters(fleet, 'billing', [1, 2])
    const audit = await handle(fleet, 'audit', 2)
    assert.deepEqual(await audit.all, [{ order: 1 }, { order: 2 }])

    assert.equal(await replayDeadLetters(fleet, 'billing:dead'), 2)
    assert.deepEqual(await listDeadLetters(fleet, 'billing:dead'), [])
    const billing = await handle(fleet, 'billing', 2)
    assert.deepEqual(await billing.all, [{ order: 1 }, { order: 2 }])

    // The audit group skips the replays (acked unseen): it handles nothing more.
    const seenByAudit: unknown[] = []
    const stop = new AbortController()
    const auditAgain = fleet.streams().consume('audit', 'again', (d) => void seenByAudit.push(d), {
      signal: stop.signal,
    })
    await until(async () => (await fleet.streams().groupLag('audit')) === 0)
    stop.abort()
    await auditAgain
    assert.deepEqual(seenByAudit, [])
    assert.equal(await fleet.streams().groupLag('billing'), 0)
  })

  test('a replay of letters whose group is gone is refused, and every letter stays in the channel', async () => {
    const fleet = await freshFleet(env)
    await deadLetters(fleet, 'invoice', [1, 2])
    await destroyGroup(fleet, 'invoice')
    const before = await listDeadLetters(fleet, 'invoice:dead')
    // Replayed, they would be addressed to a group no consumer reads: gone from where one looks.
    await assert.rejects(replayDeadLetters(fleet, 'invoice:dead'), {
      code: 'ERR_INVALID_ARGUMENT',
      message: /addressed to group "invoice", which the main stream does not have/,
    })
    assert.deepEqual(await listDeadLetters(fleet, 'invoice:dead'), before)
    // Made again, the group takes them back.
    await fleet.streams().ensureGroup('invoice')
    assert.equal(await replayDeadLetters(fleet, 'invoice:dead', { ids: [before[0]!.id] }), 1)
  })

  test('a purged group dead-letter channel is still counted, at 0 (a gauge that vanished reads as no data)', async () => {
    const fleet = await freshFleet(env)
    await deadLetters(fleet, 'refund', [1, 2])
    assert.deepEqual((await inspectFleet(fleet)).deadLetters, [{ channel: 'refund:dead', length: 2 }])
    assert.equal(await purgeDeadLetters(fleet, 'refund:dead'), 2)
    assert.deepEqual((await inspectFleet(fleet)).deadLetters, [{ channel: 'refund:dead', length: 0 }])
  })

  test('replay and purge take ids; purge deletes only dead letters', async () => {
    const fleet = await freshFleet(env)
    await deadLetters(fleet, 'ship', [1, 2, 3])
    const [first, second, third] = await listDeadLetters(fleet, 'ship:dead')
    // An id that is no entry's is nothing to do; one that is no id at all is a typo, refused.
    assert.equal(await purgeDeadLetters(fleet, 'ship:dead', { ids: [first!.id, '1-1'] }), 1)
    for (const act of [purgeDeadLetters, replayDeadLetters]) {
      await assert.rejects(act(fleet, 'ship:dead', { ids: [third!.id, 'nope'] }), {
        code: 'ERR_INVALID_ARGUMENT',
        message: /ids: "nope" is not a stream entry id/,
      })
    }
    // A bare millisecond id is Redis' `ms-0`.
    const [ms, seq] = third!.id.split('-')
    const asGiven = seq === '0' ? ms! : third!.id
    assert.equal(await replayDeadLetters(fleet, 'ship:dead', { ids: [asGiven] }), 1)
    assert.deepEqual(
      (await listDeadLetters(fleet, 'ship:dead')).map((l) => l.id),
      [second!.id],
    )
    assert.deepEqual(await listDeadLetters(fleet, 'ship:dead', { limit: 1 }), [second])
    assert.equal(await purgeDeadLetters(fleet, 'ship:dead'), 1)
    assert.deepEqual(await listDeadLetters(fleet, 'ship:dead'), [])
    await assert.rejects(purgeDeadLetters(fleet, ''), TypeError)
  })

  test('channels that are not dead-letter channels are not listed', async () => {
    const fleet = await freshFleet(env)
    await fleet.streams().publishToChannel('news', { hello: 1 })
    assert.deepEqual(await deadLetterChannels(fleet), [])
  })
})

forEachTopology('admin: orphans', (env) => {
  test('orphans are listed and one can be released without requeue', async () => {
    const fleet = await freshFleet(env)
    const worker = fleet.tracker({ instanceId: 'worker-9' })
    await worker.start()
    const jobs = ['a', 'b'].map((id) => {
      let finish!: () => void
      const running = worker.track(id, { id }, () => new Promise<void>((resolve) => (finish = resolve)))
      return { running, finish: () => finish() }
    })
    await until(async () => (await worker.inFlight()).length === 2)
    await worker.stop() // its jobs stay tracked: orphans now
    assert.deepEqual(
      (await listOrphans(fleet)).map((j) => [j.instanceId, j.id, j.payload]),
      [
        ['worker-9', 'a', { id: 'a' }],
        ['worker-9', 'b', { id: 'b' }],
      ],
    )
    assert.equal(await releaseOrphan(fleet, { instanceId: 'worker-9', id: 'a' }), true)
    assert.equal(await releaseOrphan(fleet, { instanceId: 'worker-9', id: 'a' }), false)
    assert.equal(await releaseOrphan(fleet, { instanceId: 'worker-8', id: 'b' }), false)
    assert.deepEqual(
      (await listOrphans(fleet)).map((j) => j.id),
      ['b'],
    )
    // The other orphan is still there for a recoverer, exactly once.
    const requeued: string[] = []
    assert.equal(await fleet.tracker().recoverOrphans((job) => void requeued.push(job.id)), 1)
    assert.deepEqual(requeued, ['b'])
    for (const job of jobs) job.finish()
    await Promise.all(jobs.map((j) => j.running))
  })
})

forEachTopology('admin: status', (env) => {
  test('inspectFleet leaves no close hook behind per snapshot', async () => {
    const fleet = await freshFleet(env)
    const { lifecycle } = fleetContext(fleet)
    let hooks = 0
    const onClose = lifecycle.onClose.bind(lifecycle)
    lifecycle.onClose = (cleanup) => {
      hooks++
      const unregister = onClose(cleanup)
      return () => {
        hooks--
        return unregister()
      }
    }
    await inspectFleet(fleet)
    const afterFirst = hooks
    for (let i = 0; i < 20; i++) await inspectFleet(fleet)
    assert.equal(hooks, afterFirst)
  })

  test('status shows instances with their jobs, orphans, groups with groupLag, dead letters', async () => {
    const fleet = await freshFleet(env)
    await fleet.membership({ ttl: LONG }).heartbeat('web-1')
    await deadLetters(fleet, 'billing', [1])
    await fleet.streams().ensureGroup('late')
    const tracker = fleet.tracker({ instanceId: 'worker-a', heartbeatTtl: LONG })
    await tracker.start()
    let finish!: () => void
    const job = tracker.track('job-1', { x: 1 }, () => new Promise<void>((resolve) => (finish = resolve)))
    const gone = fleet.tracker({ instanceId: 'worker-gone' })
    await gone.start()
    const orphan = gone.track('job-2', { y: 2 }, () => new Promise<void>(() => {}))
    await until(async () => (await gone.inFlight()).length === 1)
    await gone.stop()

    const status = await inspectFleet(fleet)
    finish()
    await job
    await tracker.stop()
    void orphan
    assert.deepEqual(status.members, ['web-1'])
    assert.deepEqual(status.unavailable, [])
    const read = status.tracker!
    assert.deepEqual(
      read.instances.map((i) => [i.id, i.jobs.map((j) => [j.id, j.payload])]),
      [['worker-a', [['job-1', { x: 1 }]]]],
    )
    assert.ok(read.instances[0]!.lastSeen > 0)
    assert.equal(read.inFlight, 1)
    assert.equal(read.orphans, 1)
    assert.deepEqual(
      read.orphanJobs.map((j) => [j.instanceId, j.id]),
      [['worker-gone', 'job-2']],
    )
    const main = status.streams.find((s) => s.name === 'streams:events')!
    assert.equal(main.length, 1)
    const groups = Object.fromEntries(main.groups.map((g) => [g.name, g.lag]))
    assert.deepEqual(groups, { billing: 0, late: 1 })
    assert.deepEqual(status.deadLetters, [{ channel: 'billing:dead', length: 1 }])
  })
})
