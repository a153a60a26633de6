import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { test } from 'node:test'
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises'
import { ClosedError, type Fleet, TimeoutError, type TrackedJob } from '../../src/index.ts'
import { forEachTopology, type TopologyEnv } from '../harness/topologies.ts'

/**
 * The tracker's lifecycle racing itself and fleet.close(): start/stop not awaited, close during
 * a recovery pass, close during start's first heartbeat. Memory and standalone: the races are in
 * the tracker, not in the topology, but a real connection makes the commands really in flight.
 */

/** Something the test opens when it chooses. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

let scopes = 0

/** Fleets ("processes") in a namespace of the test's own. */
function isolated(env: TopologyEnv): { fleet(): Promise<Fleet>; namespace: string } {
  const name = `l${++scopes}`
  return {
    namespace: `${env.namespace}:${name}`,
    fleet: async () => (await env.fleet()).withNamespace(name),
  }
}

/** A dead instance 'dead' holding one orphan, 'o1' (its job never settles; the test never awaits it). */
async function oneOrphan(fleet: Fleet): Promise<void> {
  const dead = fleet.tracker({ instanceId: 'dead' })
  await dead.start()
  const recorded = gate()
  void dead.track('o1', 1, () => {
    recorded.open()
    return new Promise(() => {})
  })
  await recorded.promise
  await dead.stop()
}

/** A requeue that holds each orphan until released: `entered` resolves when it has one. */
function heldRequeue(): {
  requeue(job: TrackedJob): Promise<void>
  entered: Promise<void>
  release(): void
  handed: string[]
} {
  const entered = gate()
  const released = gate()
  const handed: string[] = []
  return {
    handed,
    entered: entered.promise,
    release: released.open,
    async requeue(job) {
      handed.push(job.id)
      entered.open()
      await released.promise
    },
  }
}

/**
 * The scene of the close races: in a scope of its own, one orphan of a dead instance, a requeue
 * that holds it, an error sink, a fresh fleet to recover it with, and an observer's tracker.
 */
async function heldOrphan(env: TopologyEnv) {
  const scope = isolated(env)
  const observer = (await scope.fleet()).tracker()
  await oneOrphan(await scope.fleet())
  const errors: unknown[] = []
  return { held: heldRequeue(), errors, fleet: await scope.fleet(), observer }
}

/** Tracing-channel handlers: the ones given, the others doing nothing. */
function handlers<C extends object>(
  some: Partial<diagnosticsChannel.TracingChannelSubscribers<C>>,
): diagnosticsChannel.TracingChannelSubscribers<C> {
  const none = () => {}
  return { start: none, end: none, asyncStart: none, asyncEnd: none, error: none, ...some }
}

/** Counts the tracker's loop passes (SPEC §11 traces) in one namespace while it runs. */
function countPasses(namespace: string): { count(): number; stop(): void } {
  let passes = 0
  const counting = handlers<{ namespace?: string }>({
    start(context) {
      if (context.namespace === namespace) passes++
    },
  })
  const channels = ['redfleet:tracker:heartbeat', 'redfleet:tracker:recoverEvery'].map((name) =>
    diagnosticsChannel.tracingChannel<unknown, { namespace?: string }>(name),
  )
  for (const channel of channels) channel.subscribe(counting)
  return {
    count: () => passes,
    stop: () => {
      for (const channel of channels) channel.unsubscribe(counting)
    },
  }
}

forEachTopology(
  'Tracker lifecycle races',
  (env) => {
    test('close() during a recoverEvery pass waits for the requeue and completes the orphan', async () => {
      const { held, errors, fleet, observer } = await heldOrphan(env)
      const recoverer = fleet.tracker({
        recoverEvery: 60_000,
        requeue: held.requeue,
        onError: (e) => errors.push(e),
      })
      await recoverer.start()
      await held.entered
      const closing = fleet.close()
      // Closing, connections still open: the user's calls are refused, the pass's completion is not.
      await assert.rejects(
        recoverer.recoverOrphans(() => {}),
        ClosedError,
      )
      await assert.rejects(recoverer.orphans(), ClosedError)
      held.release()
      await closing
      assert.deepEqual(held.handed, ['o1'])
      assert.deepEqual(errors, [])
      assert.deepEqual(await observer.orphans(), [], 'completed: not claimed until recoveryLockTtl')
      assert.deepEqual(await observer.inFlight('dead'), [])
      assert.equal(await observer.recoverOrphans(() => assert.fail('handed out twice')), 0)
    })

    test('close() during a recoverOrphans call: it resolves with the orphan it requeued, completed', async () => {
      const { held, fleet, observer } = await heldOrphan(env)
      const pass = fleet.tracker().recoverOrphans(held.requeue)
      await held.entered
      let closed = false
      const closing = fleet.close().then(() => {
        closed = true
      })
      // No event tells that close is waiting; given this long, one that did not wait (its
      // cleanups, then closing the connections) would be done.
      await sleep(100)
      assert.equal(closed, false, 'close waits for the requeue in hand')
      held.release()
      assert.equal(await pass, 1)
      await closing
      assert.deepEqual(await observer.orphans(), [])
      assert.equal(await observer.recoverOrphans(() => assert.fail('handed out twice')), 0)
    })

    test('close() does not wait for ever for a requeue that never settles: it reports it and goes on', async () => {
      const { held, errors, fleet } = await heldOrphan(env)
      // The grace is the claim's ttl when that is shorter than 5 s: another recoverer may take the orphan then.
      const recoveryLockTtl = 50
      const pass = fleet
        .tracker({ recoveryLockTtl, onError: (e) => errors.push(e) })
        .recoverOrphans(held.requeue)
      await held.entered
      await fleet.close()
      assert.equal(errors.length, 1)
      assert.ok(errors[0] instanceof TimeoutError, String(errors[0]))
      assert.match(
        String(errors[0]),
        /a heartbeat, start, stop or requeue in progress did not settle within 50 ms of close/,
      )
      held.release()
      await assert.rejects(pass, ClosedError)
    })

    test('a requeue that awaits fleet.close() is not waited for by it: close resolves with nothing reported', async () => {
      // Without this, close waited for the requeue awaiting it: its whole grace, then a TimeoutError.
      const { errors, fleet } = await heldOrphan(env)
      let closed = false
      const pass = fleet.tracker({ onError: (e) => errors.push(e) }).recoverOrphans(async () => {
        await fleet.close()
        closed = true
      })
      assert.equal(await pass, 1, 'it was handed out')
      while (!closed) await tick()
      assert.deepEqual(errors, [])
    })

    test('close() is not held for ever by a stop() waiting for a requeue that never settles', async () => {
      const { held, errors, fleet } = await heldOrphan(env)
      const recoveryLockTtl = 50
      const tracker = fleet.tracker({
        recoverEvery: 60_000,
        recoveryLockTtl,
        requeue: held.requeue,
        onError: (e) => errors.push(e),
      })
      // The tracker's timers do not keep a process alive; on memory nothing else would.
      const alive = setInterval(() => {}, 1000)
      try {
        await tracker.start()
        await held.entered
        // Its halt waits for the recovery pass, stuck in the requeue.
        const stopping = tracker.stop()
        await fleet.close()
        assert.ok(
          errors.some((e) => e instanceof TimeoutError),
          `a TimeoutError reported, got ${errors.map(String).join('; ')}`,
        )
        held.release()
        await stopping.catch(() => undefined)
      } finally {
        clearInterval(alive)
      }
    })

    test('start() and stop() not awaited: the state once all settle is what the last call asked', async () => {
      const scope = isolated(env)
      const heartbeatInterval = 20
      const heartbeatTtl = 100
      const tracker = (await scope.fleet()).tracker({ instanceId: 'flip', heartbeatInterval, heartbeatTtl })
      const observer = (await scope.fleet()).tracker()
      const live = async () => (await observer.instances()).some((i) => i.id === 'flip')

      await Promise.all([tracker.start(), tracker.stop(), tracker.start()])
      assert.ok(await live(), 'start, stop, start: started')

      await Promise.all([tracker.stop(), tracker.start(), tracker.stop()])
      assert.ok(!(await live()), 'stop, start, stop: stopped')
      // A heartbeat loop left running would make it live again within one interval.
      await sleep(3 * heartbeatInterval)
      assert.ok(!(await live()), 'stop, start, stop: no heartbeat afterwards')

      // Joined: the same request twice in a row is one transition.
      await Promise.all([tracker.start(), tracker.start()])
      assert.ok(await live())
      await tracker.stop()
    })

    test('close() while start()’s first heartbeat is out: no loop runs after close, the instance is not live', async () => {
      const scope = isolated(env)
      const heartbeatInterval = 20
      const fleet = await scope.fleet()
      await fleet.ready()
      const observer = (await scope.fleet()).tracker()
      const tracker = fleet.tracker({
        instanceId: 'w',
        heartbeatInterval,
        heartbeatTtl: 60_000,
        recoverEvery: heartbeatInterval,
        requeue() {},
      })
      // Close right after the first heartbeat was sent, before its reply.
      const commands = diagnosticsChannel.tracingChannel<unknown, { op: string; namespace: string }>(
        'redfleet:command',
      )
      let closing: Promise<void> | undefined
      const closeOnBeat = handlers<{ op: string; namespace: string }>({
        end(context) {
          if (context.op === 'tracker.start' && context.namespace === scope.namespace)
            closing ??= fleet.close()
        },
      })
      commands.subscribe(closeOnBeat)
      let started: unknown
      try {
        started = await tracker.start().then(
          () => 'resolved',
          (error: unknown) => error,
        )
      } finally {
        commands.unsubscribe(closeOnBeat)
      }
      assert.ok(closing, 'closed while the first heartbeat was out')
      const passes = countPasses(scope.namespace)
      try {
        await closing
        assert.ok(started === 'resolved' || started instanceof ClosedError, String(started))
        assert.ok(!(await observer.instances()).some((i) => i.id === 'w'), 'close removed its liveness')
        // Both loops would have run several times by now (every heartbeatInterval).
        await sleep(5 * heartbeatInterval)
        assert.equal(passes.count(), 0, 'no heartbeat or recovery pass after close')
        assert.ok(!(await observer.instances()).some((i) => i.id === 'w'))
      } finally {
        passes.stop()
      }
    })
  },
  ['memory', 'standalone'],
)
