/**
 * `join` against a Redis that stops answering (SIGSTOP: connections stay open, nothing is
 * answered): heartbeats never pile up behind a stuck one, and `stop()` settles while the server
 * is still stalled, with no heartbeat started after it. The server is this file's own, since a
 * stalled server stalls every client of it.
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { after, before, test } from 'node:test'
import { createFleet, type Fleet } from '../../src/index.ts'
import { info } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
let fleet: Fleet | undefined
before(async () => {
  server = await startRedis()
})
after(async () => {
  await fleet?.close()
  await server?.stop()
})

interface Beat {
  readonly stoppedBefore: boolean
  failed?: boolean
}

/**
 * The heartbeats of `namespace` seen on `redfleet:membership:heartbeat`, in order, and how many
 * were in flight at once at most; `next(test)` resolves at the first event from now on that passes.
 */
function watchHeartbeats(namespace: string, stopped: () => boolean) {
  const channel = diagnosticsChannel.tracingChannel('redfleet:membership:heartbeat')
  const beats: Beat[] = []
  const open = new Map<object, Beat>()
  let mostInFlight = 0
  let waiters: { test: (kind: 'start' | 'end', beat: Beat) => boolean; resolve: () => void }[] = []
  const emit = (kind: 'start' | 'end', beat: Beat) => {
    const passed = waiters.filter((w) => w.test(kind, beat))
    waiters = waiters.filter((w) => !passed.includes(w))
    for (const w of passed) w.resolve()
  }
  const ours = (context: object) => (context as { namespace?: string }).namespace === namespace
  const handlers = {
    start(context: object) {
      if (!ours(context)) return
      const beat: Beat = { stoppedBefore: stopped() }
      beats.push(beat)
      open.set(context, beat)
      mostInFlight = Math.max(mostInFlight, open.size)
      emit('start', beat)
    },
    asyncEnd(context: object) {
      const beat = open.get(context)
      if (beat === undefined) return
      open.delete(context)
      beat.failed = 'error' in context
      emit('end', beat)
    },
  }
  channel.subscribe(handlers as never)
  return {
    beats,
    mostInFlight: () => mostInFlight,
    next: (test: (kind: 'start' | 'end', beat: Beat) => boolean) =>
      new Promise<void>((resolve) => waiters.push({ test, resolve })),
    off: () => channel.unsubscribe(handlers as never),
  }
}

test('join on a stalled server: no heartbeat queues behind a stuck one, none starts after stop(), stop() settles', async () => {
  const namespace = uniqueNamespace('stall')
  // Small timeouts and retries: a stuck heartbeat gives up after 2 × 100 ms, many 10 ms ticks later.
  fleet = createFleet({
    url: server.url,
    namespace,
    commandTimeout: 100,
    connectTimeout: 100,
    retry: { attempts: 2, base: 10, max: 10 },
    onError() {},
  })
  const members = fleet.membership({ ttl: 60_000 })
  let stopped = false
  const heartbeats = watchHeartbeats(namespace, () => stopped)
  const pid = Number((await info(server.port, 'server')).get('process_id'))
  try {
    const firstBeat = heartbeats.next((kind, beat) => kind === 'end' && !beat.failed)
    const handle = members.join('me', { interval: 10 })
    await firstBeat
    const stuckBeatFailed = heartbeats.next((kind, beat) => kind === 'end' && beat.failed === true)
    process.kill(pid, 'SIGSTOP')
    try {
      // Every tick while this beat was stuck fell due before its command timed out.
      await stuckBeatFailed
      await heartbeats.next((kind) => kind === 'start')
      // Queued beats would start as soon as this one fails: fail at the first, not after them all.
      const startedAfterStop = heartbeats
        .next((kind, beat) => kind === 'start' && beat.stoppedBefore)
        .then(() => assert.fail('a heartbeat started after stop()'))
      startedAfterStop.catch(() => {}) // heard by the race below, or by the check after it
      stopped = true
      const stopping = handle.stop()
      await Promise.race([
        assert.rejects(stopping, 'the leave fails while the server is stalled'),
        startedAfterStop,
      ])
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    assert.deepEqual(
      heartbeats.beats.filter((beat) => beat.stoppedBefore),
      [],
      'no heartbeat started after stop()',
    )
    assert.equal(heartbeats.mostInFlight(), 1, 'heartbeats never overlap')
  } finally {
    heartbeats.off()
  }
})
