/**
 * The `redfleet` command (SPEC §9):
 *   redfleet <demo|status|dashboard|bench> [--url URL[,URL...]] [--cluster] [--namespace NS]
 * Exit code 0 on success, 2 on usage errors, 1 on failures, with a one-line reason on stderr.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createFleet, type FleetOptions } from '../index.ts'
import { inspectFleet } from '../inspect.ts'
import { serveDashboard } from './dashboard.ts'
import { runDemo } from './demo.ts'
import { formatStatus } from './status-format.ts'

const USAGE = `usage: redfleet <command> [--url URL[,URL...]] [--cluster] [--namespace NS]
(--url defaults to $REDIS_URL)

commands:
  demo                      several worker processes sharing one fleet, each primitive at work
  status [--json]           a snapshot of a fleet: members, tracked jobs, streams, keys
  dashboard [--port 7878]   the same, live, as a web page on localhost
  bench [filter]            the benchmark suite (from a source checkout)`

class UsageError extends Error {}

const OPTIONS = {
  url: { type: 'string' },
  cluster: { type: 'boolean', default: false },
  namespace: { type: 'string' },
  json: { type: 'boolean', default: false },
  port: { type: 'string', default: '7878' },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function fleetOptions(values: { url?: string; cluster: boolean; namespace?: string }): FleetOptions {
  const urls = (values.url ?? process.env.REDIS_URL)?.split(',').filter(Boolean) ?? []
  if (values.cluster && urls.length === 0) throw new UsageError('--cluster needs --url')
  return {
    ...(urls.length === 0 ? {} : { url: urls.length === 1 ? urls[0]! : urls }),
    ...(values.cluster ? { cluster: true } : {}),
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
  }
}

async function status(options: FleetOptions, json: boolean): Promise<void> {
  if (options.url === undefined)
    throw new UsageError('status needs --url: a memory fleet lives inside its own process')
  // Failures are reported once, as the command's one-line reason, not as warnings too.
  const fleet = createFleet({ ...options, onError: () => {} })
  try {
    await fleet.ready()
    const snapshot = await inspectFleet(fleet)
    console.log(json ? JSON.stringify(snapshot, null, 2) : formatStatus(snapshot))
  } finally {
    await fleet.close()
  }
}

async function dashboard(options: FleetOptions, portText: string): Promise<void> {
  if (options.url === undefined)
    throw new UsageError('dashboard needs --url: a memory fleet lives inside its own process')
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be a port number, got ${portText}`)
  const fleet = createFleet({ ...options, onError: () => {} })
  await fleet.ready()
  const server = await serveDashboard(fleet, port)
  const address = server.address()
  console.log(
    `redfleet dashboard on http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/ (Ctrl-C stops it)`,
  )
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve())
  })
  server.close()
  await fleet.close()
}

/** The bench suite is not part of the published package: it runs from a source checkout. */
function bench(filter: string | undefined): Promise<void> {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const script = `${root}bench/run.ts`
  if (!existsSync(script)) {
    throw new Error('the benchmark suite ships with the source repository: run `npm run bench` in a checkout')
  }
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...(filter ? [filter] : [])], {
    cwd: root,
    stdio: 'inherit',
  })
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bench exited with ${code}`)))),
  )
}

export async function main(argv: string[]): Promise<number> {
  try {
    let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true })
    } catch (error) {
      throw new UsageError((error as Error).message)
    }
    const { values, positionals } = parsed
    const [command, ...rest] = positionals
    if (values.help) {
      console.log(USAGE)
      return 0
    }
    const options = fleetOptions(values)
    if (command !== 'bench' && rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`)
    switch (command) {
      case 'demo':
        await runDemo(options)
        return 0
      case 'status':
        await status(options, values.json)
        return 0
      case 'dashboard':
        await dashboard(options, values.port)
        return 0
      case 'bench':
        await bench(rest[0])
        return 0
      case undefined:
        throw new UsageError('a command is needed')
      default:
        throw new UsageError(`unknown command '${command}'`)
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (error instanceof UsageError) {
      console.error(`redfleet: ${message} (redfleet --help shows the usage)`)
      return 2
    }
    console.error(`redfleet: ${message.split('\n')[0]}`)
    return 1
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2))
}
