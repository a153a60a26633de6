/**
 * Orphan recovery under ambiguous failures (SPEC §7, §8): a private server is held with
 * `CLIENT PAUSE` for longer than `commandTimeout` while two recoverers are claiming orphans, so
 * claims time out, are re-sent by redfleet's retries, and every send is applied when the pause
 * ends. A claim recognises its own earlier win (same token), so each orphan is still handed to
 * requeue exactly once in total, and none is left claimed by a reply that was lost.
 */
import assert from 'node:assert/strict'
import { AsyncLocalStorage } from 'node:async_hooks'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet, type Fleet, type TrackedJob } from '../../src/index.ts'
import { Keyspace } from '../../src/keyspace.ts'
import type { TrackerBackend } from '../../src/tracker/backend.ts'
import { TrackerKeys } from '../../src/tracker/keys.ts'
import { MemoryTrackerBackend } from '../../src/tracker/memory.ts'
import { RedisTrackerBackend } from '../../src/tracker/redis.ts'
import { pausableServer } from '../harness/pausable-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const server = pausableServer()

/** A claim's first send times out; a re-send is answered after the pause, within 3 attempts. */
const COMMAND_TIMEOUT = 1000
const PAUSE = 2 * COMMAND_TIMEOUT
/**
 * The start events of `redfleet:command`, where each Redis step of an operation is traced (the
 * operation itself is one trace on `redfleet:tracker:recoverOrphans`).
 */
const STEP_STARTS = 'tracing:redfleet:command:start'

function fleetOn(namespace: string): Fleet {
  return server.fleet({ namespace, commandTimeout: COMMAND_TIMEOUT })
}

test('2 recoverers, a pause during recovery: each orphan is requeued exactly once in total', async () => {
  const namespace = uniqueNamespace('faults-tracker')
  const worker = fleetOn(namespace).tracker({ instanceId: 'dead' })
  await worker.start()
  const jobIds = Array.from({ length: 12 }, (_, n) => `job-${n}`)
  let finish = () => {}
  const held = new Promise<void>((resolve) => {
    finish = resolve
  })
  let running = 0
  let allRunning = () => {}
  const started = new Promise<void>((resolve) => {
    allRunning = resolve
  })
  const jobs = jobIds.map((id) =>
    worker.track(id, { id }, async () => {
      if (++running === jobIds.length) allRunning()
      await held
    }),
  )
  await started
  await worker.stop() // its jobs stay tracked: orphans

  // Each recoverer is a fleet of its own (a process). The first claim of either is preceded,
  // on its own command connection, by CLIENT PAUSE: so that claim is surely sent while the
  // server is paused and times out, as do the other recoverer's commands meanwhile.
  const recoverers = [fleetOn(namespace), fleetOn(namespace)]
  const connections = await Promise.all(
    recoverers.map(async (fleet) => (await fleetContext(fleet).redis()).client(namespace)),
  )
  const whose = new AsyncLocalStorage<number>()
  let paused: Promise<unknown> | undefined
  // Each step of recoverOrphans is traced; a claim is the first step keyed by a job.
  const onStart = (message: unknown) => {
    const recoverer = whose.getStore()
    const { op, key = '' } = message as { op?: string; key?: string }
    if (paused || recoverer === undefined || op !== 'tracker.recoverOrphans' || !jobIds.includes(key)) return
    paused = connections[recoverer]!.call('CLIENT', 'PAUSE', PAUSE, 'ALL')
  }
  subscribe(STEP_STARTS, onStart)
  const requeued: string[] = []
  const requeue = (job: TrackedJob) => void requeued.push(job.id)
  let counts: number[]
  try {
    counts = await Promise.all(
      recoverers.map((fleet, n) =>
        whose.run(n, () => fleet.tracker({ instanceId: `recoverer-${n}` }).recoverOrphans(requeue)),
      ),
    )
  } finally {
    unsubscribe(STEP_STARTS, onStart)
  }

  assert.ok(paused, 'the pause happened during recovery')
  assert.deepEqual([...requeued].sort(), [...jobIds].sort(), 'each orphan requeued exactly once')
  assert.equal(counts[0]! + counts[1]!, jobIds.length)
  assert.deepEqual(await recoverers[0]!.tracker().orphans(), [], 'none left claimed by a lost reply')
  finish()
  await Promise.all(jobs)
})

/** Both backends: a claim re-sent with its token gets the record again; another token does not. */
for (const kind of ['memory', 'redis'] as const) {
  test(`${kind}: a claim recognises its own earlier win`, async (t) => {
    const namespace = uniqueNamespace('faults-tracker')
    const fleet = kind === 'memory' ? createFleet({ namespace }) : server.fleet({ namespace })
    if (kind === 'memory') t.after(() => fleet.close())
    const ctx = fleetContext(fleet)
    const backend: TrackerBackend =
      kind === 'memory' ? new MemoryTrackerBackend(ctx.memory) : new RedisTrackerBackend(ctx.redisHandle)
    const sessionId = '0123456789abcdef0123456789abcdef'
    const keys = new TrackerKeys(new Keyspace(namespace)).session(sessionId)
    await backend.record(keys, sessionId, 'dead', 'j', 'record', undefined)
    assert.equal(await backend.claim(keys, 'j', 'mine', 60_000), 'record')
    assert.equal(await backend.claim(keys, 'j', 'mine', 60_000), 'record', 'the same claim, re-sent')
    assert.equal(await backend.claim(keys, 'j', 'theirs', 60_000), undefined, 'another claim')
    assert.equal(await backend.complete(keys, 'j', 'mine'), 'done')
    // Harmless, and told apart by the caller: the record is gone (recovery.ts counts its sends).
    assert.equal(await backend.complete(keys, 'j', 'mine'), 'gone', 'completing again')
    assert.equal(await backend.claim(keys, 'j', 'mine', 60_000), undefined, 'recovered: nothing left')
  })
}
