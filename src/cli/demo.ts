/**
 * `redfleet demo`: three workers share one fleet while a coordinator publishes orders, sends
 * jobs, kills a worker in the middle of its jobs, and hands the orphans to a survivor.
 * On Redis each worker is a separate process; with no --url it starts a private redis-server
 * when the binary exists, and otherwise runs the workers in this process on the memory topology.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { deleteNamespace } from '../admin/keys.ts'
import { fleetContext } from '../fleet.ts'
import { createFleet, type Fleet, type FleetOptions } from '../index.ts'
import { type DemoJob, runDemoWorker } from './demo-worker.ts'
import { startPrivateRedis } from './private-redis.ts'

const WORKERS = ['worker-1', 'worker-2', 'worker-3']
const JOB_MS = 1500
const ORDERS = Array.from({ length: 12 }, (_, i) => i + 1)

const say = (line: string) => console.log(`[demo]     ${line}`)
const workerLog = (name: string) => (line: string) => console.log(`[${name}] ${line}`)

/**
 * Polls `check` until it returns true; fails with `what` after `timeout` ms. Generous: worker
 * processes can take many seconds to start on a busy machine.
 */
async function until(what: string, check: () => Promise<boolean>, timeout = 60_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

interface Worker {
  name: string
  /** Rejects if the worker ends before it is stopped or killed (it failed, and said why). */
  failed: Promise<never>
  /** Stops the worker the hard way: its jobs stay tracked and become orphans. */
  kill(): Promise<void>
  /** Stops the worker cleanly. */
  stop(): Promise<void>
}

function processWorker(options: FleetOptions, name: string): Worker {
  const script = fileURLToPath(
    new URL(`./demo-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  )
  const child: ChildProcess = spawn(
    process.execPath,
    [...process.execArgv, script, JSON.stringify({ options, name })],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  createInterface({ input: child.stdout! }).on('line', workerLog(name))
  let ending = false
  let fail = (_: Error) => {}
  const failed = new Promise<never>((_, reject) => {
    fail = reject
  })
  // Only a race reads it: a failure after the race is over is not unhandled.
  failed.catch(() => {})
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!ending)
        fail(new Error(`demo: ${name} ended before the demo did (${signal ?? `exit code ${code}`})`))
      resolve()
    }),
  )
  const end = async (signal: NodeJS.Signals) => {
    ending = true
    child.kill(signal)
    await exited
  }
  return { name, failed, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') }
}

function inProcessWorker(options: FleetOptions, name: string): Worker {
  const fleet = createFleet(options)
  const controller = new AbortController()
  const running = runDemoWorker(fleet, name, workerLog(name), controller.signal).catch(() => {})
  return {
    name,
    // Its failures are the coordinator's too (one fleet, one process): nothing to race.
    failed: new Promise<never>(() => {}),
    // Closing the fleet first stops its heartbeats and leaves its jobs tracked, as a crash would.
    kill: async () => {
      await fleet.close()
      controller.abort()
    },
    stop: async () => {
      controller.abort()
      await running
      await fleet.close()
    },
  }
}

/**
 * Where the demo runs. On a Redis the user gave, it works in a fresh namespace of its own
 * (`demo-<random>`, under --namespace when given) and deletes every key of it at the end.
 */
async function resolveOptions(
  options: FleetOptions,
): Promise<{ options: FleetOptions; cleanup: () => Promise<void> }> {
  const own = `demo-${randomBytes(3).toString('hex')}`
  const namespace = options.namespace === undefined ? own : `${options.namespace}:${own}`
  if (options.url !== undefined) {
    say(`working in namespace '${namespace}', deleted at the end`)
    const scoped = { ...options, namespace }
    const cleanup = async () => {
      const fleet = quietFleet(scoped)
      try {
        await deleteNamespace(fleetContext(fleet))
      } finally {
        await fleet.close()
      }
    }
    return { options: scoped, cleanup }
  }
  if (spawnSync('redis-server', ['--version']).status === 0) {
    const server = await startPrivateRedis()
    say(`started a private redis-server at ${server.url}; each worker is a separate process`)
    return { options: { url: server.url, namespace }, cleanup: server.stop }
  }
  say('redis-server not found: running in memory, with the workers inside this process')
  return { options: { namespace }, cleanup: async () => {} }
}

async function choreograph(fleet: Fleet, workers: Worker[]): Promise<void> {
  const membership = fleet.membership({ ttl: 1500 })
  const tracker = fleet.tracker({
    instanceId: 'coordinator',
    ...{ heartbeatInterval: 300, heartbeatTtl: 1200 },
  })
  const store = fleet.store<unknown>()
  await until('every worker joined', async () => (await membership.live()).length === WORKERS.length)
  say(`live members: ${(await membership.live()).join(', ')}`)
  for (const key of ['cart:1', 'cart:2', 'cart:3']) say(`${key} is owned by ${await membership.owner(key)}`)

  await fleet.broker({ channel: 'chat' }).publish('hello from the coordinator')
  // Heard by all before one is killed: in memory every step of the demo is a microtask, and the
  // broadcast, delivered a turn of the event loop later, could come after the kill.
  await until(
    'every worker heard the broadcast',
    async () => (await store.get('broker:heard')) === WORKERS.length,
  )
  const streams = fleet.streams()
  for (const order of ORDERS) await streams.publish({ type: 'order', order })
  say(`published ${ORDERS.length} orders to the event stream; the billing group shares them out`)

  for (const worker of workers) {
    for (const n of [1, 2])
      await membership.send(worker.name, { id: `${worker.name}/job-${n}`, ms: JOB_MS } satisfies DemoJob)
  }
  say(`sent 2 jobs of ${JOB_MS} ms to each worker`)

  const victim = workers[2]!
  await until(`${victim.name} is busy`, async () => (await tracker.inFlight(victim.name)).length === 2)
  await victim.kill()
  say(`killed ${victim.name} in the middle of its 2 jobs`)

  await until(`${victim.name}'s jobs are orphans`, async () => (await tracker.orphans()).length === 2)
  const recovered = await tracker.recoverOrphans((job) => membership.send('worker-1', job.payload))
  say(`recovered ${recovered} orphaned jobs of ${victim.name} and handed them to worker-1`)

  const billed = async () => {
    const claims = await store.getMany(ORDERS.map((order) => `orders:billed:${order}`))
    return claims.filter((by) => by !== undefined).length
  }
  await until('all 6 jobs are done', async () => (await store.get('jobs:done')) === 6)
  await until(`all ${ORDERS.length} orders are billed`, async () => (await billed()) === ORDERS.length)
  say(
    `done: jobs ${await store.get('jobs:done')}/6, orders billed ${await billed()}/${ORDERS.length}, orphans left ${(await tracker.orphans()).length}`,
  )

  const cache = fleet.cache()
  let computed = 0
  const report = () =>
    cache.fetch('daily-report', { expiresIn: 60_000 }, async () => ({ computed: ++computed }))
  await Promise.all([report(), report(), report()])
  say(`3 concurrent cache fetches of a cold key computed it ${computed} time(s)`)
}

/**
 * The coordinator's fleet: a failure is the demo's one-line reason (SPEC §9), not a warning too.
 * `onError` is not passed on to the workers (it does not survive JSON): they say why they
 * failed in a line of their own.
 */
function quietFleet(options: FleetOptions): Fleet {
  return createFleet({ ...options, onError: () => {} })
}

/** Runs the whole demo; resolves when every worker has stopped and every connection is closed. */
export async function runDemo(input: FleetOptions): Promise<void> {
  const { options, cleanup } = await resolveOptions(input)
  const fleet = quietFleet(options)
  try {
    // A Redis that cannot be reached is the demo's failure before any worker starts.
    await fleet.ready()
  } catch (error) {
    await fleet.close()
    await cleanup().catch(() => {})
    throw error
  }
  const workers = WORKERS.map((name) =>
    options.url === undefined ? inProcessWorker(options, name) : processWorker(options, name),
  )
  // Ctrl-C ends the demo through the same cleanup as its end: no key is left behind.
  let interrupt = () => {}
  const interrupted = new Promise<never>((_, reject) => {
    interrupt = () => reject(new Error('demo: interrupted'))
  })
  process.once('SIGINT', interrupt)
  try {
    await Promise.race([choreograph(fleet, workers), interrupted, ...workers.map((w) => w.failed)])
  } finally {
    process.off('SIGINT', interrupt)
    await Promise.all(workers.map((w) => w.stop()))
    await fleet.close()
    await cleanup()
  }
}
