import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { resolveOptions } from '../../src/options.ts'
import { forEachTopology, topologyOptions } from '../harness/topologies.ts'

const root = join(import.meta.dirname, '..', '..')

// Small timings so the test runs in seconds; the interval leaves room for a loaded CI machine.
const HEARTBEAT_INTERVAL = 200
const HEARTBEAT_TTL = 1200
const RECOVER_EVERY = 100
const JOBS = 20
const RECOVERERS = 5
/**
 * Sequential round trips of the recovery pass that finds the orphans: the dead sessions and
 * their jobs (3), then per orphan its claim, the requeue's two increments and the completion
 * (4), then the retirement (1). Each is bounded by the workers' commandTimeout (the default).
 */
const PASS_ROUND_TRIPS = 3 + 4 * JOBS + 1
/**
 * When the victim's jobs must all be requeued: its heartbeat key expires (heartbeatTtl), the next
 * recovery pass starts (recoverEvery) and runs to its end. The worst case the configuration
 * allows, not a guess at the machine's speed: a loaded machine slows the round trips, and
 * commandTimeout is what bounds each of them.
 */
const RECOVERY_BOUND =
  HEARTBEAT_TTL + RECOVER_EVERY + PASS_ROUND_TRIPS * resolveOptions({ memory: true }).commandTimeout

interface Worker {
  readonly child: ChildProcessWithoutNullStreams
  readonly ready: Promise<void>
  readonly exited: Promise<number | string | null>
  stderr(): string
}

/** Starts test/workers/tracker-kill.ts; `ready` resolves when it prints "ready". */
function startWorker(args: unknown): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'workers', 'tracker-kill.ts'), JSON.stringify(args)],
    { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal))
  })
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (stdout.includes('ready\n')) resolve()
    })
    void exited.then((code) => reject(new Error(`worker exited with ${code} before ready:\n${stderr}`)))
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  return { child, ready, exited, stderr: () => stderr }
}

forEachTopology(
  'Tracker kill test',
  (env) => {
    test(`SIGKILL one of 3 workers: its ${JOBS} jobs, and only those, are requeued exactly once`, async () => {
      const options = { ...(await topologyOptions(env.topology)), namespace: env.namespace }
      const ids = ['node:{a}:1', 'node:{a}:2', 'node:{a}:3'] // ':' and braces in instance ids
      const workers = ids.map((instanceId) =>
        startWorker({
          options,
          instanceId,
          jobs: JOBS,
          recoverers: RECOVERERS,
          heartbeatInterval: HEARTBEAT_INTERVAL,
          heartbeatTtl: HEARTBEAT_TTL,
          recoverEvery: RECOVER_EVERY,
        }),
      )
      try {
        await Promise.all(workers.map((w) => w.ready))
        const fleet = await env.fleet()
        const counts = fleet.store<number>({ prefix: 'requeued:' })
        const tracker = fleet.tracker()
        assert.equal((await tracker.inFlight(ids[1])).length, JOBS)

        const victim = workers[1]!
        victim.child.kill('SIGKILL')
        const killedAt = Date.now()
        assert.equal(await victim.exited, 'SIGKILL')

        const victimJobs = Array.from({ length: JOBS }, (_, n) => `${ids[1]}/job-${n}`)
        let recoveredIn: number | undefined
        while (Date.now() - killedAt < RECOVERY_BOUND) {
          const seen = await counts.getMany(victimJobs)
          if (seen.every((n) => n !== undefined)) {
            recoveredIn = Date.now() - killedAt
            break
          }
          await sleep(25)
        }
        assert.ok(
          recoveredIn !== undefined,
          `all ${JOBS} requeued within heartbeatTtl + recoverEvery + one pass of ${PASS_ROUND_TRIPS} commands (${RECOVERY_BOUND} ms)`,
        )
        // Let many more passes of all 10 recoverers run: nothing may be handed out again.
        await sleep(HEARTBEAT_TTL)
        assert.deepEqual(await counts.getMany(victimJobs), new Array(JOBS).fill(1), 'exactly once each')
        const survivorJobs = [0, 2].flatMap((w) =>
          Array.from({ length: JOBS }, (_, n) => `${ids[w]}/job-${n}`),
        )
        assert.ok(
          (await counts.getMany(survivorJobs)).every((n) => n === undefined),
          'jobs of live workers are never requeued',
        )
        assert.equal(await counts.get('total'), JOBS)
        assert.deepEqual(await tracker.inFlight(ids[1]), [], 'the dead instance’s records are gone')
        assert.deepEqual(await tracker.orphans(), [])
        assert.equal((await tracker.inFlight(ids[0])).length, JOBS)
        const live = (await tracker.instances()).map((i) => i.id)
        assert.ok(live.includes(ids[0]!) && live.includes(ids[2]!) && !live.includes(ids[1]!))
        console.log(`[${env.topology}] ${JOBS} orphans requeued ${recoveredIn} ms after SIGKILL`)

        for (const w of [workers[0]!, workers[2]!]) w.child.kill('SIGTERM')
        for (const w of [workers[0]!, workers[2]!]) assert.equal(await w.exited, 0, w.stderr())
      } finally {
        for (const w of workers)
          if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL')
      }
    })
  },
  ['standalone', 'sharded', 'cluster'],
)
