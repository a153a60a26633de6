import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Job, Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { startTrackedWorker, type TrackedWorker } from '../../examples/bullmq-tracker.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { resolveOptions } from '../../src/options.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const root = join(import.meta.dirname, '..', '..')
const HEARTBEAT_INTERVAL = 150
const HEARTBEAT_TTL = 900
const RECOVER_EVERY = 100
/**
 * Round trips between the orphan's heartbeat key expiring and the survivor's processor running
 * it: the recovery pass (dead sessions, their jobs, the claim, the completion, the retirement),
 * the requeue's queue.add and BullMQ's fetch of the job. Each is bounded by commandTimeout.
 */
const ROUND_TRIPS = 10
/**
 * The survivor's tracker finds the orphan once its heartbeat key expires (heartbeatTtl) at its
 * next pass (recoverEvery), then runs those round trips: the worst case the configuration
 * allows (the fleet's default commandTimeout), not a guess at the machine's speed.
 */
const RECOVERY_BOUND =
  HEARTBEAT_TTL + RECOVER_EVERY + ROUND_TRIPS * resolveOptions({ memory: true }).commandTimeout

test('a BullMQ job whose worker process is SIGKILLed is requeued into the queue once and run by a survivor', async (t) => {
  const { standalone: url } = await testServers()
  const namespace = uniqueNamespace('bull')
  const connection = new Redis(url, { maxRetriesPerRequest: null })
  const queue = new Queue('reports', { connection, prefix: namespace })
  const fleet: Fleet = createFleet({ url, namespace })
  let rescuer: TrackedWorker | undefined
  after(async () => {
    await rescuer?.close()
    await queue.obliterate({ force: true })
    await queue.close()
    await fleet.close()
    connection.disconnect()
  })

  // The doomed worker: another process, so SIGKILL is a real crash.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'test', 'workers', 'tracker-bullmq.ts'),
      JSON.stringify({
        url,
        namespace,
        queue: queue.name,
        heartbeatInterval: HEARTBEAT_INTERVAL,
        heartbeatTtl: HEARTBEAT_TTL,
      }),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const exited = new Promise<string | number | null>((resolve) =>
    child.once('exit', (c, s) => resolve(c ?? s)),
  )
  const waitFor = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => stdout.includes(text) && resolve()
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString()
        check()
      })
      check()
      void exited.then((code) => reject(new Error(`worker exited with ${code}:\n${stderr}`)))
    })
  try {
    await waitFor('ready\n')
    const original = await queue.add('monthly-report', { month: '2026-11', pages: 12 })
    await waitFor(`started ${original.id}\n`)
    const observer = fleet.tracker()
    assert.deepEqual(
      (await observer.inFlight('doomed')).map((j) => [j.id, j.payload]),
      [[original.id, { name: 'monthly-report', data: { month: '2026-11', pages: 12 } }]],
    )
    child.kill('SIGKILL')
    assert.equal(await exited, 'SIGKILL')
    const killedAt = Date.now()

    const ran: Job[] = []
    let done!: () => void
    const processed = new Promise<void>((resolve) => {
      done = resolve
    })
    rescuer = await startTrackedWorker({
      fleet,
      queue,
      connection,
      tracker: {
        instanceId: 'survivor',
        heartbeatInterval: HEARTBEAT_INTERVAL,
        heartbeatTtl: HEARTBEAT_TTL,
        recoverEvery: RECOVER_EVERY,
      },
      processor: async (job) => {
        ran.push(job)
        done()
        return { pages: (job.data as { pages: number }).pages }
      },
    })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      processed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the orphan was not requeued in time')), RECOVERY_BOUND)
      }),
    ])
    clearTimeout(timer)
    const recoveredAfter = Date.now() - killedAt
    t.diagnostic(`requeued and run ${recoveredAfter} ms after the kill (bound ${RECOVERY_BOUND} ms)`)
    assert.ok(recoveredAfter < RECOVERY_BOUND, `requeued and run ${recoveredAfter} ms after the kill`)

    await sleep(4 * RECOVER_EVERY) // more passes: nothing is requeued twice
    assert.equal(ran.length, 1)
    const job = ran[0]!
    assert.equal(job.id, `${original.id}-recovered`)
    assert.equal(job.name, 'monthly-report')
    assert.deepEqual(job.data, { month: '2026-11', pages: 12 })
    const stored = await queue.getJob(job.id!)
    assert.ok(stored)
    // BullMQ marks the job completed with one script once the processor returns: within one
    // commandTimeout, asserted with the same again as a margin, instead of 50 polls 20 ms apart.
    const completedBy = Date.now() + 2 * resolveOptions({ memory: true }).commandTimeout
    while (!(await stored.isCompleted()) && Date.now() < completedBy) await sleep(20)
    assert.ok(await stored.isCompleted(), 'the requeued job is completed')
    assert.deepEqual(await observer.orphans(), [])
    assert.deepEqual(await observer.inFlight('doomed'), [])
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})
