/** Running the `redfleet` command in tests, as a user would: `node --import tsx src/cli/main.ts`. */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { after } from 'node:test'
import { createFleet, type Fleet, type Tracker } from '../../src/index.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

export const root = join(import.meta.dirname, '../..')
export const main = join(root, 'src/cli/main.ts')
export const noRedisUrl = { ...process.env, REDIS_URL: '' }

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Starts the CLI; `output()` is what it printed so far, `exited` its end. */
export function start(args: string[], env: NodeJS.ProcessEnv = process.env, script = main) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk
  })
  const exited = new Promise<Run>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  )
  return { child, exited, output: () => stdout }
}

/** Runs the CLI to its end. */
export function cli(args: string[], env: NodeJS.ProcessEnv = process.env, script = main): Promise<Run> {
  return start(args, env, script).exited
}

/** Resolves once the child's stdout matches `pattern`; rejects if it exits first. */
export function printed(child: ChildProcess, output: () => string, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(output())) return
      child.stdout!.off('data', check)
      resolve()
    }
    child.stdout!.on('data', check)
    child.once('close', () => reject(new Error(`exited before printing ${pattern}: ${output()}`)))
    check()
  })
}

export function assertOneLine(text: string): void {
  assert.equal(text.trim().split('\n').length, 1, text)
}

/** Fleets on the test's standalone server, each in a namespace of its own, closed after the file. */
export function standaloneFleets(): () => Promise<{ fleet: Fleet; url: string; namespace: string }> {
  const fleets: Fleet[] = []
  after(() => Promise.all(fleets.map((f) => f.close())))
  return async () => {
    const { standalone } = await testServers()
    const namespace = uniqueNamespace()
    const fleet = createFleet({ url: standalone, namespace })
    fleets.push(fleet)
    return { fleet, url: standalone, namespace }
  }
}

/** Dead letters of `orders`, written by a real consume loop of `group` (maxDeliveries 1). */
export async function deadLetters(fleet: Fleet, group: string, orders: number[]): Promise<void> {
  const streams = fleet.streams()
  await streams.ensureGroup(group)
  for (const order of orders) await streams.publish({ order })
  const stop = new AbortController()
  let dead = 0
  const written = new Promise<void>((resolve) => {
    void streams.tail(
      `${group}:dead`,
      '0',
      () => {
        if (++dead === orders.length) resolve()
      },
      { signal: stop.signal },
    )
  })
  const consuming = streams.consume(
    group,
    'failing',
    () => {
      throw new Error('card declined')
    },
    { signal: stop.signal, maxDeliveries: 1 },
  )
  await written
  stop.abort()
  await consuming
}

/** Runs job `id` under `tracker` forever; resolves once it is recorded (track records, then runs). */
export function stuckJob(tracker: Tracker, id: string, payload: unknown): Promise<void> {
  return new Promise((recorded) => {
    void tracker.track(id, payload, () => {
      recorded()
      return new Promise<void>(() => {})
    })
  })
}
