import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import {
  ClosedError,
  ConfigError,
  type Fleet,
  SerializationError,
  TimeoutError,
  type TrackedJob,
  type Tracker,
} from '../../src/index.ts'
import { processMemory } from '../../src/topology/memory.ts'
import { shortenCloseGrace } from '../harness/close-grace.ts'
import { forEachTopology, type TopologyEnv, topologyOptions } from '../harness/topologies.ts'

/** A job body that runs until the test lets it finish. */
function gate<T = void>(): { promise: Promise<T>; open(value: T): void; fail(error: unknown): void } {
  let open!: (value: T) => void
  let fail!: (error: unknown) => void
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve
    fail = reject
  })
  return { promise, open, fail }
}

/** Resolves once `count` jobs are running (track records before run, so they are recorded). */
function started(count: number): { run(): void; all: Promise<void> } {
  let seen = 0
  let done!: () => void
  const all = new Promise<void>((resolve) => {
    done = resolve
  })
  return {
    run() {
      if (++seen === count) done()
    },
    all,
  }
}

/** Every key the tracker left under the suite's namespace, on every node (SCAN, test-side). */
/** A job tracked by `tracker` that runs until `release()`: resolves once it is running. */
async function heldJob(tracker: Tracker, id: string, payload: unknown) {
  const hold = gate()
  const running = started(1)
  const done = tracker.track(id, payload, async () => {
    running.run()
    await hold.promise
  })
  await running.all
  return { done, release: () => hold.open() }
}

async function trackerKeys(env: TopologyEnv, namespace = env.namespace): Promise<string[]> {
  const pattern = `${namespace}:tracker:`
  if (env.topology === 'memory') return [...processMemory.keys(pattern)].sort()
  const options = await topologyOptions(env.topology)
  const urls = Array.isArray(options.url) ? options.url : [options.url!]
  const found: string[] = []
  for (const url of urls) {
    const client = new Redis(url, { lazyConnect: true })
    try {
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${pattern}*`, 'COUNT', 1000)
        cursor = next
        found.push(...keys)
      } while (cursor !== '0')
    } finally {
      client.disconnect()
    }
  }
  return found.sort()
}

/**
 * Awaits `promise`, failing after `ms`. The ref'd timer also keeps the process alive meanwhile:
 * the tracker's own timers are unref'd, as a library's timers should be.
 */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const ids = (jobs: TrackedJob[]) => jobs.map((j) => j.id).sort()

/**
 * The ids a recoverOrphans call of `tracker` hands out (a requeue that failed the test instead
 * would only be reported to onError, and the call would still answer 0).
 */
async function handedOut(tracker: Tracker): Promise<string[]> {
  const handed: string[] = []
  await tracker.recoverOrphans((job) => void handed.push(job.id))
  return handed.sort()
}

let scopes = 0

/**
 * Fleets ("processes") in a namespace of the test's own, so one test's orphans never reach
 * another test's recoverers. `namespace` is the full namespace, for key listings.
 */
function isolated(env: TopologyEnv): { fleet(): Promise<Fleet>; namespace: string } {
  const name = `t${++scopes}`
  return {
    namespace: `${env.namespace}:${name}`,
    fleet: async () => (await env.fleet()).withNamespace(name),
  }
}

forEachTopology('Tracker contract', (env) => {
  test('options: defaults, env overrides, options win over env, bad values are ConfigError', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    assert.match(fleet.tracker().instanceId, /^[0-9a-f]{16}$/)
    assert.notEqual(fleet.tracker().instanceId, fleet.tracker().instanceId)
    const saved = { ...process.env }
    try {
      process.env.REDFLEET_INSTANCE_ID = 'from-env:1'
      process.env.REDFLEET_HEARTBEAT_TTL = '100'
      process.env.REDFLEET_HEARTBEAT_INTERVAL = '200'
      // env interval 200 >= env ttl 100: the env values are the ones in use.
      assert.throws(
        () => fleet.tracker(),
        /heartbeatInterval \(200\) must be shorter than heartbeatTtl \(100\)/,
      )
      assert.equal(fleet.tracker({ heartbeatInterval: 50 }).instanceId, 'from-env:1')
      assert.equal(fleet.tracker({ heartbeatInterval: 50, instanceId: 'opt' }).instanceId, 'opt')
      assert.throws(() => fleet.tracker({ heartbeatTtl: 150 }), /\(200\).*\(150\)/)
      process.env.REDFLEET_HEARTBEAT_INTERVAL = '15s'
      assert.throws(() => fleet.tracker(), ConfigError)
      // Checked as the option is: past a Node timer's range the loop would beat every millisecond.
      process.env.REDFLEET_HEARTBEAT_TTL = '9000000000'
      process.env.REDFLEET_HEARTBEAT_INTERVAL = '3000000000'
      assert.throws(() => fleet.tracker(), {
        name: 'ConfigError',
        message: /REDFLEET_HEARTBEAT_INTERVAL must be at most 2147483647 ms/,
      })
      process.env.REDFLEET_HEARTBEAT_TTL = '100'
      delete process.env.REDFLEET_HEARTBEAT_INTERVAL
      // Only a ttl given: the default interval shrinks to a third of it.
      assert.doesNotThrow(() => fleet.tracker())
    } finally {
      for (const name of ['REDFLEET_INSTANCE_ID', 'REDFLEET_HEARTBEAT_TTL', 'REDFLEET_HEARTBEAT_INTERVAL']) {
        if (saved[name] === undefined) delete process.env[name]
        else process.env[name] = saved[name]
      }
    }
    for (const bad of [
      { instanceId: '' },
      { heartbeatTtl: 0 },
      { heartbeatInterval: 1.5 },
      { heartbeatInterval: 500, heartbeatTtl: 500 },
      { recoveryLockTtl: -1 },
      { recoverEvery: 100 },
      { recoverEvery: 100, requeue: 'x' as unknown as () => void },
    ]) {
      assert.throws(() => fleet.tracker(bad), ConfigError, JSON.stringify(bad))
    }
  })

  test('start makes the instance live with lastSeen; stop removes it at once', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const tracker = fleet.tracker({ instanceId: 'svc:{a}:1' })
    const before = Date.now()
    await tracker.start()
    await tracker.start() // idempotent
    const live = await (await scope.fleet()).tracker().instances()
    const me = live.find((i) => i.id === 'svc:{a}:1')
    assert.ok(me, 'listed by another fleet')
    assert.ok(me.lastSeen >= before && me.lastSeen <= Date.now())
    await tracker.stop()
    assert.equal(
      (await tracker.instances()).find((i) => i.id === 'svc:{a}:1'),
      undefined,
    )
    await tracker.start() // can start again
    assert.ok((await tracker.instances()).some((i) => i.id === 'svc:{a}:1'))
    await tracker.stop()
  })

  test('track records the job before run and forgets it after; result and error pass through untouched', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const tracker = fleet.tracker({ instanceId: 'runner:1' })
    const observer = (await scope.fleet()).tracker()
    await tracker.start()
    const before = Date.now()
    const result = { some: 'result' }
    const seen = await tracker.track('job-1', { n: 1, s: 'ünï' }, async () => {
      const inFlight = await observer.inFlight('runner:1')
      return { inFlight, result }
    })
    assert.equal(seen.result, result, 'the very same object')
    assert.equal(seen.inFlight.length, 1)
    const job = seen.inFlight[0]!
    assert.deepEqual(
      { ...job, startedAt: 0 },
      {
        id: 'job-1',
        payload: { n: 1, s: 'ünï' },
        instanceId: 'runner:1',
        startedAt: 0,
      },
    )
    assert.ok(job.startedAt >= before && job.startedAt <= Date.now())
    assert.deepEqual(await tracker.inFlight(), [])

    const failure = new RangeError('job failed')
    await assert.rejects(
      tracker.track('job-2', undefined, async () => {
        const [inside] = await tracker.inFlight()
        assert.equal(inside?.payload, undefined, 'undefined payload round-trips')
        assert.ok(inside && !('payload' in inside && inside.payload !== undefined))
        throw failure
      }),
      (error) => error === failure,
    )
    assert.deepEqual(await tracker.inFlight(), [])
    // A synchronous throw from run is the job's error too.
    const sync = new Error('sync')
    await assert.rejects(
      tracker.track('job-3', 1, () => {
        throw sync
      }),
      (error) => error === sync,
    )
    assert.deepEqual(await tracker.inFlight(), [])
    await tracker.stop()
  })

  test('bad arguments are TypeErrors; a payload JSON cannot hold is reported and the job still runs', async () => {
    const scope = isolated(env)
    const errors: unknown[] = []
    const tracker = (await scope.fleet()).tracker({ onError: (e) => errors.push(e) })
    await assert.rejects(
      tracker.track('', 1, async () => 1),
      TypeError,
    )
    await assert.rejects(
      tracker.track(7 as unknown as string, 1, async () => 1),
      TypeError,
    )
    await assert.rejects(tracker.track('x', 1, 'nope' as unknown as () => Promise<number>), TypeError)
    await assert.rejects(tracker.recoverOrphans('nope' as unknown as () => void), TypeError)
    await assert.rejects(tracker.inFlight(''), TypeError)
    assert.equal(errors.length, 0)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.equal(await tracker.track('bad-payload', cyclic, async () => 'ran'), 'ran')
    assert.equal(await tracker.track('bigint', { n: 1n }, async () => 'ran too'), 'ran too')
    assert.equal(errors.length, 2)
    assert.ok(errors.every((e) => e instanceof SerializationError))
    assert.deepEqual(await tracker.inFlight(), [])
  })

  test('graceful stop() leaves in-flight jobs as orphans; another instance recovers each exactly once', async () => {
    const scope = isolated(env)
    const worker = (await scope.fleet()).tracker({ instanceId: 'graceful' })
    await worker.start()
    const hold = gate()
    const running = started(3)
    const jobs = [1, 2, 3].map((n) =>
      worker.track(`g-${n}`, { n }, async () => {
        running.run()
        await hold.promise
        return n
      }),
    )
    await running.all
    const rescuer = (await scope.fleet()).tracker({ instanceId: 'rescuer' })
    await rescuer.start()
    assert.deepEqual(await rescuer.orphans(), [], 'jobs of a live instance are not orphans')
    assert.deepEqual(await handedOut(rescuer), [], 'nothing to recover')

    await worker.stop()
    const orphans = await rescuer.orphans()
    assert.deepEqual(ids(orphans), ['g-1', 'g-2', 'g-3'])
    assert.ok(orphans.every((o) => o.instanceId === 'graceful'))
    assert.deepEqual(
      orphans.map((o) => o.payload).sort((a, b) => (a as { n: number }).n - (b as { n: number }).n),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    )
    const requeued: TrackedJob[] = []
    assert.equal(await rescuer.recoverOrphans((job) => void requeued.push(job)), 3)
    assert.deepEqual(ids(requeued), ['g-1', 'g-2', 'g-3'])
    assert.deepEqual(await handedOut(rescuer), [], 'handed out twice')
    assert.deepEqual(await rescuer.orphans(), [])
    assert.deepEqual(await rescuer.inFlight('graceful'), [])
    // The stopped worker's jobs finish normally afterwards.
    hold.open()
    assert.deepEqual(await Promise.all(jobs), [1, 2, 3])
    await rescuer.stop()
  })

  test('stop({ releaseJobs: true }) forgets in-flight jobs: nothing to recover, nothing left, nothing for close to wait for', async (t) => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const errors: unknown[] = []
    const worker = fleet.tracker({ instanceId: 'releaser', onError: (e) => errors.push(e) })
    await worker.start()
    const hold = gate()
    const running = started(2)
    const jobs = ['r-1', 'r-2'].map((id) =>
      worker.track(id, null, async () => {
        running.run()
        await hold.promise
      }),
    )
    await running.all
    await worker.stop({ releaseJobs: true })
    const other = (await scope.fleet()).tracker()
    assert.deepEqual(await other.orphans(), [])
    assert.deepEqual(await other.inFlight('releaser'), [])
    assert.deepEqual(await handedOut(other), [], 'released jobs are not orphans')
    // Released, they are no tracked jobs: close neither waits for them nor says they stay tracked.
    shortenCloseGrace(t, 200)
    await fleet.close()
    assert.deepEqual(errors, [])
    hold.open()
    await Promise.all(jobs)
  })

  test('stop() and fleet.close() at once (a shutdown handler): stop resolves; jobs that settle meanwhile are no orphans', async () => {
    const scope = isolated(env)
    const observer = (await scope.fleet()).tracker()
    for (const releaseJobs of [true, false]) {
      const fleet = await scope.fleet()
      const worker = fleet.tracker({ instanceId: `shutdown-${releaseJobs}` })
      await worker.start()
      const job = await heldJob(worker, `job-${releaseJobs}`, releaseJobs)
      const stopping = worker.stop({ releaseJobs })
      const closing = fleet.close()
      // close lets a stop() begun before it settle: its leave (and release) runs while closing.
      await stopping
      // ...and waits for the job still running, which is untracked as it settles.
      job.release()
      await job.done
      await closing
    }
    assert.deepEqual(await observer.orphans(), [])
    assert.deepEqual(await handedOut(observer), [], 'no job is left to requeue')
    assert.deepEqual(await observer.instances(), [])
  })

  test('fleet.close() waits for the tracked jobs running: one that completes meanwhile is not requeued', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const errors: unknown[] = []
    const worker = fleet.tracker({ instanceId: 'closing-worker', onError: (e) => errors.push(e) })
    await worker.start()
    const hold = gate<string>()
    const running = started(1)
    const done = worker.track('job-A', { n: 1 }, async () => {
      running.run()
      return hold.promise
    })
    await running.all
    const closing = fleet.close()
    hold.open('finished')
    assert.equal(await done, 'finished', "the job's own result")
    await closing
    const observer = (await scope.fleet()).tracker()
    assert.deepEqual(await observer.orphans(), [], 'its record went when it settled')
    assert.deepEqual(await handedOut(observer), [], 'a completed job is requeued')
    assert.deepEqual(errors, [])
  })

  test('a tracked job the close cut off (a ClosedError, or one wrapping it) stays tracked: another instance recovers it', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const worker = fleet.tracker({ instanceId: 'cut-off', onError: () => {} })
    await worker.start()
    const hold = gate()
    const running = started(2)
    const store = fleet.store()
    // As jobs whose own calls on the fleet are refused once it closes: one lets the ClosedError
    // through, one wraps it in an error of its own.
    const done = worker.track('job-E', { n: 5 }, async () => {
      running.run()
      await hold.promise
      await store.set('job-E:result', 1)
    })
    const wrapped = worker.track('job-W', null, async () => {
      running.run()
      await hold.promise
      await store.set('job-W:result', 1).catch((error: unknown) => {
        throw new Error('could not save the result', { cause: error })
      })
    })
    await running.all
    const closing = fleet.close()
    hold.open()
    await assert.rejects(done, ClosedError)
    await assert.rejects(wrapped, /could not save the result/)
    await closing
    const observer = (await scope.fleet()).tracker()
    const handed: TrackedJob[] = []
    assert.equal(await observer.recoverOrphans((job) => void handed.push(job)), 2)
    assert.deepEqual(handed.map((job) => [job.id, job.payload]).sort(), [
      ['job-E', { n: 5 }],
      ['job-W', null],
    ])
  })

  test('a tracked job that fails for its own reason while the fleet closes is untracked, as any that settles', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const worker = fleet.tracker({ instanceId: 'own-failure', onError: () => {} })
    const store = fleet.store()
    await worker.start()
    const hold = gate()
    const running = started(1)
    const done = worker.track('job-F', null, async () => {
      running.run()
      await hold.promise
      throw new Error('invalid input')
    })
    await running.all
    const closing = fleet.close()
    // Close has begun: the fleet refuses calls.
    await assert.rejects(store.get('x'), ClosedError)
    hold.open()
    await assert.rejects(done, /invalid input/)
    await closing
    const observer = (await scope.fleet()).tracker()
    assert.deepEqual(await handedOut(observer), [], 'a job that settled is run again')
  })

  test('a tracked job that awaits fleet.close() itself is not waited for by it', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const errors: unknown[] = []
    const worker = fleet.tracker({ instanceId: 'self-closer', onError: (e) => errors.push(e) })
    const done = worker.track('job-B', null, async () => {
      await fleet.close()
      return 'closed'
    })
    assert.equal(await done, 'closed')
    // Waited for, it would hold close until the grace, then report a TimeoutError.
    assert.deepEqual(errors, [])
    // It settled once the connections were closed: its record stays, an orphan.
    const observer = (await scope.fleet()).tracker()
    assert.deepEqual(ids(await observer.orphans()), ['job-B'])
  })

  test('a tracked job that awaits fleet.close() once close began, or inside another job, is not waited for', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const errors: unknown[] = []
    const worker = fleet.tracker({ instanceId: 'late-closer', onError: (e) => errors.push(e) })
    const hold = gate()
    const running = started(2)
    const late = worker.track('job-late', null, async () => {
      running.run()
      await hold.promise
      await fleet.close()
      return 'late'
    })
    const nested = worker.track('job-outer', null, () =>
      worker.track('job-inner', null, async () => {
        running.run()
        await hold.promise
        await fleet.close()
        return 'inner'
      }),
    )
    await running.all
    const closing = fleet.close()
    hold.open()
    assert.deepEqual(await Promise.all([late, nested, closing]), ['late', 'inner', undefined])
    // Waited for, they would hold close until the grace, then report a TimeoutError.
    assert.deepEqual(errors, [])
  })

  test('close keeps every started instance live while it waits for their jobs, past heartbeatTtl', async () => {
    const scope = isolated(env)
    const fleet = await scope.fleet()
    const heartbeatTtl = 600
    // Two: the first one's cleanup runs after the second's, which waits for its job first.
    const workers = ['short-ttl-1', 'short-ttl-2'].map((instanceId) =>
      fleet.tracker({ instanceId, heartbeatInterval: 150, heartbeatTtl }),
    )
    const jobs = []
    for (const worker of workers) {
      await worker.start()
      jobs.push(await heldJob(worker, `job-${worker.instanceId}`, null))
    }
    const closing = fleet.close()
    // Without a heartbeat since close began, their liveness would have expired by now.
    await sleep(2 * heartbeatTtl)
    const observer = (await scope.fleet()).tracker()
    assert.deepEqual(await observer.orphans(), [], 'still live: their jobs are no orphans while they run')
    for (const job of jobs) job.release()
    await Promise.all(jobs.map((job) => job.done))
    await closing
    assert.deepEqual(await observer.orphans(), [])
    assert.deepEqual(await observer.instances(), [])
  })

  if (env.topology === 'memory') {
    test("tracked jobs still running after close's grace are reported and stay tracked, orphans; one grace for all trackers", async (t) => {
      const grace = 1000
      shortenCloseGrace(t, grace)
      const scope = isolated(env)
      const fleet = await scope.fleet()
      const errors: unknown[] = []
      const names = ['slow-1', 'slow-2', 'slow-3']
      const jobs = await Promise.all(
        names.map((id) =>
          heldJob(fleet.tracker({ instanceId: id, onError: (e) => errors.push(e) }), `job-${id}`, null),
        ),
      )
      const began = performance.now()
      await fleet.close()
      // Each tracker's cleanup waits only for what is left of the one grace, not a grace more.
      assert.ok(performance.now() - began < 2 * grace, 'one grace, not one per tracker')
      assert.equal(errors.length, 3, 'one report per tracker')
      for (const error of errors) {
        assert.ok(error instanceof TimeoutError)
        assert.match(String(error), new RegExp(`1 tracked job\\(s\\) did not settle within ${grace} ms`))
      }
      for (const job of jobs) job.release()
      await Promise.all(jobs.map((job) => job.done))
      const observer = (await scope.fleet()).tracker()
      assert.deepEqual(
        ids(await observer.orphans()),
        names.map((id) => `job-${id}`),
      )
    })
  }

  test('10 concurrent recoverers on 2 fleets hand each of 30 orphans out exactly once', async () => {
    const scope = isolated(env)
    const dead = (await scope.fleet()).tracker({ instanceId: 'dead:{x}' })
    await dead.start()
    const hold = gate()
    const running = started(30)
    const jobs = Array.from({ length: 30 }, (_, n) =>
      dead.track(`o-${n}`, { n }, async () => {
        running.run()
        await hold.promise
      }),
    )
    await running.all
    const survivor = (await scope.fleet()).tracker({ instanceId: 'alive' })
    await survivor.start()
    const survivorHold = gate()
    const survivorJob = survivor.track('keep-me', 'mine', () => survivorHold.promise)
    await dead.stop()

    const fleets = [await scope.fleet(), await scope.fleet()]
    const handed = new Map<string, number>()
    const counts = await Promise.all(
      Array.from({ length: 10 }, async (_, k) => {
        const recoverer = fleets[k % 2]!.tracker({ instanceId: `rec-${k}` })
        return recoverer.recoverOrphans(async (job) => {
          handed.set(job.id, (handed.get(job.id) ?? 0) + 1)
          await sleep(Math.random() * 5)
        })
      }),
    )
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      30,
    )
    assert.equal(handed.size, 30)
    assert.ok(
      [...handed.values()].every((n) => n === 1),
      'each orphan handed out once',
    )
    assert.ok(!handed.has('keep-me'), 'a live instance keeps its jobs')
    assert.deepEqual(ids(await survivor.inFlight()), ['keep-me'])
    assert.deepEqual(await survivor.inFlight('dead:{x}'), [])
    survivorHold.open()
    hold.open()
    await Promise.all([...jobs, survivorJob])
    await survivor.stop()
  })

  test('instances starting and tracking while 5 recoverers loop are never unlisted or lose a record', async () => {
    const scope = isolated(env)
    const handed = new Map<string, number>()
    let looping = true
    const recoverers = await Promise.all(
      Array.from({ length: 5 }, async () => (await scope.fleet()).tracker()),
    )
    const loops = recoverers.map(async (recoverer) => {
      while (looping) {
        await recoverer.recoverOrphans((job) => {
          handed.set(job.id, (handed.get(job.id) ?? 0) + 1)
        })
        await sleep(1)
      }
    })
    const hold = gate()
    const running = started(10)
    const workers = await Promise.all(
      Array.from({ length: 10 }, async (_, n) => (await scope.fleet()).tracker({ instanceId: `w-${n}` })),
    )
    await Promise.all(workers.map((w) => w.start()))
    const jobs = workers.map((w, n) =>
      w.track(`job-${n}`, n, async () => {
        running.run()
        await hold.promise
      }),
    )
    await running.all
    await sleep(50) // recovery passes keep running against live, busy instances
    assert.equal(handed.size, 0, 'live instances keep their jobs')
    assert.equal((await workers[0]!.instances()).filter((i) => i.id.startsWith('w-')).length, 10)
    await Promise.all(workers.map((w) => w.stop()))
    await within(
      (async () => {
        while (handed.size < 10) await sleep(5)
      })(),
      3000,
      'recovery of the stopped instances',
    )
    looping = false
    await Promise.all(loops)
    assert.deepEqual([...handed.keys()].sort(), Array.from({ length: 10 }, (_, n) => `job-${n}`).sort())
    assert.ok([...handed.values()].every((n) => n === 1))
    hold.open()
    await Promise.all(jobs)
  })

  test('an orphan whose requeue throws stays tracked, is reported, and the next pass retries it', async () => {
    const scope = isolated(env)
    const worker = (await scope.fleet()).tracker({ instanceId: 'flaky' })
    await worker.start()
    const hold = gate()
    const running = started(3)
    const jobs = ['f-1', 'f-2', 'f-3'].map((id) =>
      worker.track(id, id, async () => {
        running.run()
        await hold.promise
      }),
    )
    await running.all
    await worker.stop()
    const errors: unknown[] = []
    const recoverer = (await scope.fleet()).tracker({ onError: (e) => errors.push(e) })
    const boom = new Error('queue is down')
    const requeued: string[] = []
    const first = await recoverer.recoverOrphans((job) => {
      if (job.id === 'f-2') throw boom
      requeued.push(job.id)
    })
    assert.equal(first, 2)
    assert.deepEqual(errors, [boom])
    assert.deepEqual(ids(await recoverer.orphans()), ['f-2'], 'still tracked')
    assert.deepEqual(ids(await recoverer.inFlight('flaky')), ['f-2'], 'the dead instance keeps its record')
    assert.equal(await recoverer.recoverOrphans((job) => void requeued.push(job.id)), 1)
    assert.deepEqual(requeued.sort(), ['f-1', 'f-2', 'f-3'])
    assert.deepEqual(await recoverer.orphans(), [])
    hold.open()
    await Promise.all(jobs)
  })

  test('a crashed recoverer’s claim expires after recoveryLockTtl and the orphan is handed out then', async () => {
    const CLAIM_TTL = 1000
    const scope = isolated(env)
    const worker = (await scope.fleet()).tracker({ instanceId: 'crash-src' })
    const hold = gate()
    const running = started(1)
    await worker.start()
    const job = worker.track('c-1', 'payload', async () => {
      running.run()
      await hold.promise
    })
    await running.all
    await worker.stop()
    // The other recoverer's fleet is connected first: its check of the claim must come within
    // the claim's lifetime (a fleet connecting there under CI load once took longer than 300 ms).
    const other = (await scope.fleet()).tracker({ recoveryLockTtl: CLAIM_TTL })
    assert.deepEqual(ids(await other.orphans()), ['c-1'])
    // The first recoverer "crashes" inside requeue: it never completes nor releases its claim.
    // (fleet.close() would wait for the requeue and then complete the orphan: not a crash.)
    const stuck = gate()
    const inRequeue = started(1)
    const crashed = (await scope.fleet())
      .tracker({ recoveryLockTtl: CLAIM_TTL, onError: () => {} })
      .recoverOrphans(async () => {
        inRequeue.run()
        await stuck.promise
      })
    await inRequeue.all
    const claimed = performance.now()
    assert.deepEqual(await handedOut(other), [], 'still claimed')
    assert.deepEqual(ids(await other.orphans()), ['c-1'], 'claimed, not lost')
    await sleep(Math.max(0, claimed + CLAIM_TTL + 100 - performance.now()))
    const requeued: string[] = []
    assert.equal(await other.recoverOrphans((j) => void requeued.push(j.id)), 1)
    assert.deepEqual(requeued, ['c-1'])
    // The crashed recoverer's requeue fails at last: its release is no longer its claim's.
    stuck.fail(new Error('crashed'))
    assert.equal(await crashed, 0)
    hold.open()
    await job
  })

  test('a requeue that outlasts its claim, while another recoverer recovers the orphan and finishes, is reported', async () => {
    const scope = isolated(env)
    const worker = (await scope.fleet()).tracker({ instanceId: 'slow-src' })
    const hold = gate()
    const running = started(1)
    await worker.start()
    const job = worker.track('s-1', 'payload', async () => {
      running.run()
      await hold.promise
    })
    await running.all
    await worker.stop()
    const slowErrors: unknown[] = []
    const slow = (await scope.fleet()).tracker({ recoveryLockTtl: 300, onError: (e) => slowErrors.push(e) })
    const inRequeue = gate()
    const requeueDone = gate()
    const slowPass = slow.recoverOrphans(async () => {
      inRequeue.open()
      await requeueDone.promise
    })
    await inRequeue.promise
    // The slow recoverer's claim runs out; another one takes the orphan and finishes before it.
    await sleep(400)
    const other = (await scope.fleet()).tracker({ recoveryLockTtl: 300 })
    const requeued: string[] = []
    assert.equal(await other.recoverOrphans((j) => void requeued.push(j.id)), 1)
    assert.deepEqual(requeued, ['s-1'])
    requeueDone.open()
    assert.equal(await slowPass, 1, 'its requeue ran: it counts')
    assert.equal(slowErrors.length, 1)
    assert.match(
      String(slowErrors[0]),
      /tracker\.recoverOrphans 's-1': .*handed out twice.*raise recoveryLockTtl/,
    )
    assert.deepEqual(await other.orphans(), [])
    hold.open()
    await job
  })

  test('a restarted instance (same id) does not mistake its previous life’s jobs for its own', async () => {
    const scope = isolated(env)
    const first = (await scope.fleet()).tracker({ instanceId: 'stable-id' })
    await first.start()
    const oldJob = await heldJob(first, 'old-life', 1)
    await first.stop()
    const second = (await scope.fleet()).tracker({ instanceId: 'stable-id' })
    await second.start()
    assert.deepEqual(
      (await second.instances()).filter((i) => i.id === 'stable-id').length,
      1,
      'live again under the same id',
    )
    assert.deepEqual(ids(await second.orphans()), ['old-life'])
    assert.deepEqual(ids(await second.inFlight()), [], 'the previous life’s job is an orphan, not in flight')
    const newJob = await heldJob(second, 'new-life', 2)
    assert.deepEqual(ids(await second.inFlight('stable-id')), ['new-life'])
    assert.deepEqual(ids(await second.orphans()), ['old-life'])
    newJob.release()
    await newJob.done
    const requeued: string[] = []
    assert.equal(await second.recoverOrphans((j) => void requeued.push(j.id)), 1)
    assert.deepEqual(requeued, ['old-life'])
    oldJob.release()
    await oldJob.done
    await second.stop()
  })

  test('a session unlisted while its process looked dead lists itself again with its next record', async () => {
    const scope = isolated(env)
    // A tracker that never started is not live: its jobs are orphans (documented).
    const zombie = (await scope.fleet()).tracker({ instanceId: 'zombie' })
    const recoverer = (await scope.fleet()).tracker()
    const hold = gate()
    const running = started(1)
    const first = zombie.track('z-1', 1, async () => {
      running.run()
      await hold.promise
    })
    await running.all
    assert.equal(await recoverer.recoverOrphans(() => undefined), 1)
    hold.open()
    await first
    assert.equal(await recoverer.recoverOrphans(() => undefined), 0, 'retired and unlisted now')
    // The zombie tracks again: the record lists its session again in the same atomic step.
    const hold2 = gate()
    const running2 = started(1)
    const second = zombie.track('z-2', 2, async () => {
      running2.run()
      await hold2.promise
    })
    await running2.all
    assert.deepEqual(ids(await recoverer.orphans()), ['z-2'])
    await zombie.start()
    assert.deepEqual(await recoverer.orphans(), [])
    hold2.open()
    await second
    await zombie.stop()
  })

  test('recoverEvery recovers orphans periodically while started, and stops with stop()', async () => {
    const scope = isolated(env)
    const worker = (await scope.fleet()).tracker({ instanceId: 'periodic-src' })
    await worker.start()
    const hold = gate()
    const running = started(2)
    const jobs = ['p-1', 'p-2'].map((id) =>
      worker.track(id, id, async () => {
        running.run()
        await hold.promise
      }),
    )
    await running.all
    const requeued: string[] = []
    let wake: (() => void) | undefined
    const recoverer = (await scope.fleet()).tracker({
      recoverEvery: 50,
      requeue: (job) => {
        requeued.push(job.id)
        if (requeued.length === 2) wake?.()
      },
    })
    await recoverer.start()
    await sleep(150)
    assert.deepEqual(requeued, [], 'nothing while the worker is live')
    const done = new Promise<void>((resolve) => {
      wake = resolve
    })
    await worker.stop()
    await within(done, 2000, 'periodic recovery')
    assert.deepEqual(requeued.sort(), ['p-1', 'p-2'])
    await recoverer.stop()
    // Stopped: orphans made now stay put.
    const worker2 = (await scope.fleet()).tracker({ instanceId: 'periodic-src-2' })
    const running2 = started(1)
    const late = worker2.track('p-3', 3, async () => {
      running2.run()
      await hold.promise
    })
    await running2.all
    await sleep(200)
    assert.deepEqual(requeued.sort(), ['p-1', 'p-2'])
    hold.open()
    await Promise.all([...jobs, late])
  })

  test('the same job id tracked twice at once stays recorded until both settle', async () => {
    const scope = isolated(env)
    const tracker = (await scope.fleet()).tracker({ instanceId: 'dup' })
    await tracker.start()
    const a = gate()
    const b = gate()
    const running = started(2)
    const one = tracker.track('same', 'a', async () => {
      running.run()
      await a.promise
    })
    const two = tracker.track('same', 'b', async () => {
      running.run()
      await b.promise
    })
    await running.all
    a.open()
    await one
    assert.deepEqual(ids(await tracker.inFlight()), ['same'])
    b.open()
    await two
    assert.deepEqual(await tracker.inFlight(), [])
    await tracker.stop()
  })

  test('nothing leaks: once jobs settle or are recovered and instances stop, no tracker key is left', async () => {
    const scope = isolated(env)
    const { namespace } = scope
    const view = await scope.fleet()
    const a = view.tracker({ instanceId: 'leak-a' })
    const b = view.tracker({ instanceId: 'leak-b', recoveryLockTtl: 60_000 })
    await a.start()
    await b.start()
    const hold = gate()
    const running = started(5)
    const jobs = Array.from({ length: 5 }, (_, n) =>
      a.track(`l-${n}`, { n }, async () => {
        running.run()
        await hold.promise
      }),
    )
    await b.track('done-1', 1, async () => 1)
    await running.all
    assert.ok((await trackerKeys(env, namespace)).length > 0)
    await a.stop()
    assert.equal(await b.recoverOrphans(() => undefined), 5)
    await b.stop()
    assert.deepEqual(await trackerKeys(env, namespace), [], 'claims, records, tokens and the index are gone')
    hold.open()
    await Promise.all(jobs)
    assert.deepEqual(await trackerKeys(env, namespace), [])
    // A stopped instance whose jobs finish after stop() retires itself, without any recovery pass.
    const c = view.tracker({ instanceId: 'leak-c' })
    await c.start()
    const hold2 = gate()
    const running2 = started(1)
    const late = c.track('late', 1, async () => {
      running2.run()
      await hold2.promise
    })
    await running2.all
    await c.stop()
    hold2.open()
    await late
    assert.deepEqual(await trackerKeys(env, namespace), [])
  })

  test('fleet.close() stops the tracker: liveness removed, every method rejects with ClosedError', async () => {
    const scope = isolated(env)
    const fleet: Fleet = await scope.fleet()
    const tracker = fleet.tracker({
      instanceId: 'closing',
      heartbeatInterval: 20,
      recoverEvery: 20,
      requeue: () => {},
    })
    await tracker.start()
    const observer = (await scope.fleet()).tracker()
    assert.ok((await observer.instances()).some((i) => i.id === 'closing'))
    await fleet.close()
    assert.ok(!(await observer.instances()).some((i) => i.id === 'closing'))
    for (const call of [
      tracker.start(),
      tracker.stop(),
      tracker.track('x', 1, async () => 1),
      tracker.inFlight(),
      tracker.instances(),
      tracker.orphans(),
      tracker.recoverOrphans(() => {}),
    ]) {
      await assert.rejects(call, ClosedError)
    }
    assert.throws(() => fleet.tracker(), ClosedError)
    // No timer runs on: a beat after close would make it live again.
    await sleep(80)
    assert.ok(!(await observer.instances()).some((i) => i.id === 'closing'))
  })

  if (env.topology === 'memory') {
    test('a paused process loses liveness after heartbeatTtl; its jobs are orphans until it beats again', async () => {
      const scope = isolated(env)
      const tracker = (await scope.fleet()).tracker({
        instanceId: 'paused',
        heartbeatInterval: 20,
        heartbeatTtl: 60,
      })
      const observer = (await scope.fleet()).tracker()
      await tracker.start()
      const hold = gate()
      const running = started(1)
      const job = tracker.track('p', 1, async () => {
        running.run()
        await hold.promise
      })
      await running.all
      // Block the event loop past the ttl: no heartbeat timer can run. The memory backend
      // answers within microtasks, so the checks below run before the overdue beat.
      const until = Date.now() + 100
      while (Date.now() < until) {
        // busy wait: a GC pause or a stuck loop
      }
      assert.ok(!(await observer.instances()).some((i) => i.id === 'paused'))
      assert.deepEqual(ids(await observer.orphans()), ['p'])
      await sleep(50) // the overdue beat runs
      assert.ok((await observer.instances()).some((i) => i.id === 'paused'))
      assert.deepEqual(await observer.orphans(), [])
      hold.open()
      await job
      await tracker.stop()
    })
  }
})
