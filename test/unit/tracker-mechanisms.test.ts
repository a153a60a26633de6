/**
 * The tracker's in-flight records and orphan recovery on fakes: which backend step runs when a
 * record landed, may have landed or did not, when a session is retired, and what a recovery
 * pass does with a malformed record, a failing requeue, a claim lost to another recoverer and
 * a fleet that closes mid-pass.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ClosedError, ConnectionError, RedfleetError, SerializationError } from '../../src/errors.ts'
import { createFleet, fleetContext } from '../../src/fleet.ts'
import type { Tracker } from '../../src/index.ts'
import { linkedTo } from '../../src/signals.ts'
import type { TrackerBackend } from '../../src/tracker/backend.ts'
import { InFlightJobs } from '../../src/tracker/in-flight.ts'
import type { SessionKeys } from '../../src/tracker/keys.ts'
import type { Listed, SessionListing } from '../../src/tracker/listing.ts'
import type { TrackedJob } from '../../src/tracker/options.ts'
import { encodeRecord } from '../../src/tracker/record.ts'
import { OrphanRecovery } from '../../src/tracker/recovery.ts'
import type { TrackerRunner } from '../../src/tracker/runner.ts'
import type { Session } from '../../src/tracker/session.ts'
import { deferred } from '../harness/deferred.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** A runner that runs each step at once, recording its op, and collects reports. */
function fakeRunner() {
  const runner = {
    closed: false,
    /** The connections closed too (see TrackerRunner.drained). */
    drained: false,
    ran: [] as string[],
    reports: [] as unknown[],
    unheard: [] as unknown[],
    async run<T>(op: string, _key: string | undefined, fn: () => Promise<T>): Promise<T> {
      runner.ran.push(op)
      return fn()
    },
    async runAgain<T>(op: string, _key: string | undefined, fn: () => Promise<T>): Promise<T> {
      runner.ran.push(`${op} again`)
      return fn()
    },
    report(error: unknown) {
      runner.reports.push(error)
    },
    reportUnheard(error: unknown) {
      runner.unheard.push(error)
    },
    // User code runs as it is: no fleet closes from inside it here.
    awaitUserCode<T>(code: () => T): T {
      return code()
    },
    runUserCode<T>(code: () => T): T {
      return code()
    },
  }
  return runner
}

/** A backend whose steps record their name and can be made to fail. */
function fakeBackend(overrides: Partial<Record<keyof TrackerBackend, (...args: never[]) => unknown>> = {}) {
  const calls: string[] = []
  const step =
    (name: string, result?: unknown) =>
    async (..._args: unknown[]) => {
      calls.push(name)
      return result
    }
  const backend = {
    record: step('record'),
    remove: step('remove'),
    retire: step('retire', true),
    jobs: step('jobs', []),
    claim: step('claim'),
    complete: step('complete', 'done'),
    release: step('release'),
    ...overrides,
  } as unknown as TrackerBackend
  return { backend, calls }
}

function session(): Session {
  return {
    id: 's1',
    keys: {} as SessionKeys,
    inFlight: new Map(),
    leftover: new Set(),
    ended: false,
    heartbeatTtl: undefined,
  }
}

test('track: records, runs, then removes the record through the runner; the result passes through', async () => {
  const runner = fakeRunner()
  const { backend, calls } = fakeBackend()
  const jobs = new InFlightJobs('i1', backend, runner as unknown as TrackerRunner)
  const s = session()
  assert.equal(await jobs.track(s, 'j1', { a: 1 }, async () => 'done'), 'done')
  assert.deepEqual(calls, ['record', 'remove'])
  assert.deepEqual(runner.ran, ['track', 'track'])
  assert.equal(s.inFlight.size, 0)
  assert.deepEqual(runner.reports, [])
})

test('track: a record that may have landed (the call failed) is removed quietly, outside the runner', async () => {
  const runner = fakeRunner()
  const { backend, calls } = fakeBackend({
    record: async () => {
      throw new ConnectionError('timed out')
    },
    remove: async () => {
      calls.push('remove')
      throw new ConnectionError('still down')
    },
  })
  const jobs = new InFlightJobs('i1', backend, runner as unknown as TrackerRunner)
  assert.equal(await jobs.track(session(), 'j1', 1, async () => 'ran anyway'), 'ran anyway')
  assert.deepEqual(calls, ['remove'])
  assert.deepEqual(runner.ran, ['track'], 'only the record went through the runner')
  assert.deepEqual(runner.reports, [])
  assert.equal(runner.unheard.length, 1, 'the Redis failure: reported unless onError heard it per call')
})

test('track: a payload JSON cannot hold is reported; nothing was recorded, so nothing is removed', async () => {
  const runner = fakeRunner()
  const { backend, calls } = fakeBackend()
  const jobs = new InFlightJobs('i1', backend, runner as unknown as TrackerRunner)
  assert.equal(await jobs.track(session(), 'j1', { n: 1n }, async () => 'ran'), 'ran')
  assert.deepEqual(calls, [])
  assert.equal(runner.reports.length, 1)
  assert.ok(runner.reports[0] instanceof SerializationError)
})

test("track: a job that settles once the fleet's connections closed leaves the record (an orphan)", async () => {
  const runner = fakeRunner()
  const { backend, calls } = fakeBackend()
  const jobs = new InFlightJobs('i1', backend, runner as unknown as TrackerRunner)
  await jobs.track(session(), 'j1', 1, async () => {
    runner.closed = true
    runner.drained = true
  })
  assert.deepEqual(calls, ['record'])
})

test('track: settled() waits for every job running and the removal of its record', async () => {
  const runner = fakeRunner()
  const { backend, calls } = fakeBackend()
  const jobs = new InFlightJobs('i1', backend, runner as unknown as TrackerRunner)
  let finish!: () => void
  const done = jobs.track(session(), 'j1', 1, () => new Promise<void>((resolve) => (finish = resolve)))
  let settled = false
  const waiting = jobs.settled().then(() => (settled = true))
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(settled, false, 'the job is still running')
  assert.equal(jobs.running, 1)
  // Closing, not drained: the record is still removed.
  runner.closed = true
  finish()
  await Promise.all([done, waiting])
  assert.deepEqual(calls, ['record', 'remove'])
  assert.equal(jobs.running, 0)
})

test('track: the same id twice keeps its record until both settle; an ended session retires with its last job', async () => {
  const runner = fakeRunner()
  const { backend, calls } = fakeBackend()
  const jobs = new InFlightJobs('i1', backend, runner as unknown as TrackerRunner)
  const s = session()
  let finishFirst!: () => void
  const first = jobs.track(s, 'j1', 1, () => new Promise<void>((resolve) => (finishFirst = resolve)))
  await jobs.track(s, 'j1', 1, async () => {})
  assert.deepEqual(calls, ['record', 'record'], 'the first call still holds it')
  assert.equal(s.inFlight.get('j1'), 1)
  s.ended = true
  finishFirst()
  await first
  assert.deepEqual(calls, ['record', 'record', 'remove', 'retire'])
  const live = session()
  await jobs.track(live, 'j2', 1, async () => {})
  assert.deepEqual(calls.slice(4), ['record', 'remove'], 'a session still running is not retired')
})

const listed = (sessionId: string): Listed => ({
  sessionId,
  instanceId: 'dead-1',
  keys: { claim: (jobId: string) => `${sessionId}:claim:${jobId}` } as SessionKeys,
})
const record = (id: string) => encodeRecord(id, { id }, 1000)

function recovery(dead: Listed[], backend: TrackerBackend, runner = fakeRunner()) {
  const listing = { dead: async () => dead } as unknown as SessionListing
  const options = { lockTtl: 5000, retryEvery: 5 }
  return {
    runner,
    recovery: new OrphanRecovery(listing, backend, runner as unknown as TrackerRunner, options),
  }
}

test('recovery: no dead session, nothing read', async () => {
  const { backend, calls } = fakeBackend()
  assert.equal(await recovery([], backend).recovery.pass(() => {}, 'recoverOrphans'), 0)
  assert.deepEqual(calls, [])
})

test('recovery: each orphan is claimed once, requeued, completed; then the session is retired', async () => {
  const claimed: string[] = []
  const { backend, calls } = fakeBackend({
    jobs: async () => [new Map(['a', 'b', 'c'].map((id) => [id, record(id)]))],
    claim: async (_keys: SessionKeys, jobId: string) => {
      claimed.push(jobId)
      return record(jobId)
    },
  })
  const requeued: TrackedJob[] = []
  const pass = recovery([listed('s1')], backend).recovery.pass((job) => void requeued.push(job), 'op')
  assert.equal(await pass, 3)
  assert.deepEqual([...claimed].sort(), ['a', 'b', 'c'])
  assert.deepEqual(requeued.map((job) => job.id).sort(), ['a', 'b', 'c'])
  assert.equal(requeued[0]!.instanceId, 'dead-1')
  assert.equal(calls.filter((c) => c === 'complete').length, 3)
  assert.equal(calls.at(-1), 'retire')
})

test('recovery: an orphan claimed by another (or live again) is skipped', async () => {
  const { backend, calls } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => undefined,
  })
  let requeues = 0
  const { recovery: r, runner } = recovery([listed('s1')], backend)
  assert.equal(await r.pass(() => void requeues++, 'op'), 0)
  assert.equal(requeues, 0)
  assert.deepEqual(runner.reports, [], 'not ours to drop or report')
  assert.ok(!calls.includes('complete'))
})

test('recovery: a malformed record is dropped (completed) and reported, never requeued', async () => {
  const { backend, calls } = fakeBackend({
    jobs: async () => [new Map([['a', 'not json']])],
    claim: async () => 'not json',
  })
  const { recovery: r, runner } = recovery([listed('s1')], backend)
  let requeues = 0
  assert.equal(await r.pass(() => void requeues++, 'op'), 0)
  assert.equal(requeues, 0)
  assert.ok(calls.includes('complete'))
  assert.equal(runner.reports.length, 1)
  assert.ok(runner.reports[0] instanceof SerializationError)
  assert.match((runner.reports[0] as Error).message, /tracker\.op 'a': dropped a malformed job record/)
})

test('recovery: a failing requeue is reported and its claim released for the next pass', async () => {
  const failure = new Error('queue down')
  const { backend, calls } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => record('a'),
  })
  const { recovery: r, runner } = recovery([listed('s1')], backend)
  const pass = r.pass(() => {
    throw failure
  }, 'op')
  assert.equal(await pass, 0)
  assert.deepEqual(runner.reports, [failure])
  assert.ok(calls.includes('release'))
  assert.ok(!calls.includes('complete'))
})

test('recovery: a requeue that outlasted its claim is reported (it still counts)', async () => {
  const { backend } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => record('a'),
    complete: async () => 'taken',
  })
  const { recovery: r, runner } = recovery([listed('s1')], backend)
  assert.equal(await r.pass(() => {}, 'op'), 1)
  assert.equal(runner.reports.length, 1)
  assert.ok(runner.reports[0] instanceof RedfleetError)
  assert.match((runner.reports[0] as Error).message, /requeue outlasted recoveryLockTtl \(5000 ms\)/)
})

test('recovery: an orphan completed elsewhere while requeue ran is reported, unless its completion was re-sent', async () => {
  const { backend } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => record('a'),
    complete: async () => 'gone',
  })
  const once = recovery([listed('s1')], backend)
  assert.equal(await once.recovery.pass(() => {}, 'op'), 1)
  assert.equal(once.runner.reports.length, 1)
  assert.match(
    (once.runner.reports[0] as Error).message,
    /tracker\.op 'a': the orphan was completed elsewhere while requeue ran .*handed out twice/,
  )
  // A runner that sends the completion again, as after a lost reply: 'gone' may be its own first send.
  const resent = recovery([listed('s1')], backend)
  const run = resent.runner.run.bind(resent.runner)
  resent.runner.run = async <T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> => {
    if (op === 'op' && key === 'a') await fn()
    return run(op, key, fn)
  }
  assert.equal(await resent.recovery.pass(() => {}, 'op'), 1)
  assert.deepEqual(resent.runner.reports, [])
})

test('recovery: a completion that fails after requeue counts, is reported and sent again until it goes through', async () => {
  const failure = new ConnectionError('node down')
  let failing = 2
  const done = deferred()
  let claims = 0
  const { backend, calls } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => {
      claims++
      return record('a')
    },
    complete: async () => {
      if (failing-- > 0) throw failure
      done.resolve()
      return 'done'
    },
  })
  const { recovery: r, runner } = recovery([listed('s1')], backend)
  let requeues = 0
  assert.equal(await r.pass(() => void requeues++, 'op'), 1, 'requeued: the call counts it')
  assert.deepEqual(runner.unheard, [failure])
  // A pass meanwhile does not claim it again: it is still this recoverer's, only not untracked.
  assert.equal(await r.pass(() => void requeues++, 'op'), 0)
  assert.equal(requeues, 1)
  // The retry's timer is unref'd, as a library's must be: the test keeps the process up meanwhile.
  const up = setInterval(() => {}, 1000)
  await done.promise.finally(() => clearInterval(up))
  assert.equal(claims, 1)
  assert.ok(!calls.includes('retire'), 'a session with a record left is not unlisted: no second failure')
  assert.deepEqual(runner.unheard, [failure], 'the retries are quiet')
  assert.deepEqual(runner.reports, [])
})

test('recovery: close gives an unfinished completion one more try, and reports one that still fails', async () => {
  const failure = new ConnectionError('node down')
  let fail = true
  let completions = 0
  const { backend } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => record('a'),
    complete: async () => {
      completions++
      if (fail) throw failure
      return 'done'
    },
  })
  const once = recovery([listed('s1')], backend)
  assert.equal(await once.recovery.pass(() => {}, 'op'), 1)
  once.runner.closed = true
  fail = false
  await once.recovery.settled()
  assert.equal(completions, 2)
  assert.deepEqual(once.runner.reports, [])

  fail = true
  const never = recovery([listed('s1')], backend)
  assert.equal(await never.recovery.pass(() => {}, 'op'), 1)
  never.runner.closed = true
  await never.recovery.settled()
  assert.equal(never.runner.reports.length, 1)
  assert.match(
    (never.runner.reports[0] as Error).message,
    /tracker\.op 'a': requeued, but Redis did not untrack it before the fleet closed/,
  )
})

test('recovery: a retry under way as the fleet closes is its last try: no second round after it', async () => {
  // Two rounds in turn against a frozen node outlasted close's grace, and the report came unheard.
  const failure = new ConnectionError('node down')
  let completions = 0
  const retrying = deferred()
  const held = deferred()
  const { backend } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => record('a'),
    complete: async () => {
      if (++completions === 2) {
        retrying.resolve()
        await held.promise
      }
      throw failure
    },
  })
  const { recovery: r, runner } = recovery([listed('s1')], backend)
  assert.equal(await r.pass(() => {}, 'op'), 1)
  const up = setInterval(() => {}, 1000)
  await retrying.promise.finally(() => clearInterval(up))
  runner.closed = true
  const settling = r.settled()
  held.resolve()
  await settling
  assert.equal(completions, 2, 'the pass, then the retry under way: no further round')
  assert.equal(runner.reports.length, 1)
  assert.match((runner.reports[0] as Error).message, /did not untrack it before the fleet closed/)
})

test('recovery: a pass cut short by a failure after requeueing some resolves with how many, and reports it', async () => {
  const failure = new ConnectionError('node down')
  const { backend } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => record('a'),
    retire: async () => {
      throw failure
    },
  })
  const { recovery: r, runner } = recovery([listed('s1')], backend)
  assert.equal(await r.pass(() => {}, 'op'), 1)
  assert.deepEqual(runner.unheard, [failure])
  const none = recovery(
    [listed('s1')],
    fakeBackend({ jobs: async () => [new Map()], retire: backend.retire }).backend,
  )
  await assert.rejects(
    none.recovery.pass(() => {}, 'op'),
    failure,
  )
})

test('recovery: a fleet closed mid-pass ends it with ClosedError', async () => {
  const runner = fakeRunner()
  const { backend } = fakeBackend({
    jobs: async () => [new Map([['a', record('a')]])],
    claim: async () => record('a'),
  })
  const { recovery: r } = recovery([listed('s1')], backend, runner)
  runner.closed = true
  await assert.rejects(
    r.pass(() => {}, 'op'),
    ClosedError,
  )
})

test('close hooks: a tracker made to read registers none; one in use holds them until it has nothing left for close', async () => {
  const fleet = createFleet({ namespace: 'tracker-hooks' })
  const signal = fleetContext(fleet).lifecycle.signal
  const before = linkedTo(signal)
  // Per request, in an admin endpoint: each one was kept until the fleet closed (helper-218).
  for (let i = 0; i < 100; i++) {
    const tracker = fleet.tracker()
    await tracker.orphans()
    await tracker.instances()
    await tracker.inFlight()
  }
  assert.equal(linkedTo(signal), before)
  // Per batch, started, stopped and dropped: each was kept until the fleet closed (helper-324).
  const started = fleet.tracker()
  await started.start()
  await started.start()
  assert.equal(linkedTo(signal), before + 1, 'started: close stops it')
  await started.stop()
  assert.equal(linkedTo(signal), before, 'stopped: nothing left for close')
  const job = deferred<number>()
  const tracking = started.track('job', {}, () => job.promise)
  assert.equal(linkedTo(signal), before + 1, 'a job running: close waits for it')
  job.resolve(1)
  await tracking
  assert.equal(linkedTo(signal), before)
  const requeued = deferred<void>()
  const orphan = fleet.tracker({ instanceId: 'gone' })
  await orphan.start()
  const running = deferred<number>()
  void orphan.track('orphan', {}, () => running.promise)
  await orphan.stop()
  const recovering = started.recoverOrphans(() => requeued.promise)
  assert.equal(linkedTo(signal), before + 2, 'a pass in progress, and the orphan job still running')
  requeued.resolve()
  assert.equal(await recovering, 1)
  running.resolve(1)
  await orphan.stop()
  assert.equal(linkedTo(signal), before)
  await fleet.close()
})

test('a tracker started, stopped and dropped is collected before the fleet closes (helper-324)', async () => {
  const fleet = createFleet({ namespace: 'tracker-collected' })
  const refs = await (async () => {
    const made: WeakRef<Tracker>[] = []
    for (let i = 0; i < 20; i++) {
      const tracker = fleet.tracker()
      await tracker.start()
      await tracker.track(`job-${i}`, {}, async () => i)
      await tracker.stop()
      made.push(new WeakRef(tracker))
    }
    return made
  })()
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  assert.equal(refs.filter((ref) => ref.deref() !== undefined).length, 0)
  await fleet.close()
})
