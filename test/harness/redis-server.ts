import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A redis-server process the harness started, on a free loopback port. */
export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Stops the process (SIGTERM, then SIGKILL); safe to call twice. */
  stop(): Promise<void>
  /**
   * Starts it again on the same port and directory (for reconnect tests). Data is kept only if
   * the server persists it (e.g. `--appendonly yes`); a cluster node keeps its nodes.conf.
   */
  restart(): Promise<void>
  /** SIGKILL, as a crash: no shutdown save, the directory stays for `restart`. */
  kill(): Promise<void>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** Fails with an actionable message when redis-server is not installed. */
export function assertRedisInstalled(): void {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (found.error || found.status !== 0) {
    throw new Error(
      'redis-server is not installed: the tests start their own Redis servers. ' +
        'Install it with `apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis`.',
    )
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * Where the servers' ports are drawn from: below the kernel's ephemeral ports (32768-60999 on
 * Linux), bus ports (port + 10000) included. A client reconnecting to a server that is down
 * is given an ephemeral source port; were it the server's own, the connection would connect to
 * itself (TCP simultaneous open), hold the port, and the server's restart could not bind it.
 */
const FIRST_PORT = 12_000
const LAST_PORT = 22_767

/** A free loopback port; with `bus`, port + 10000 (the cluster bus) must be free too. */
export async function freePort(bus = false): Promise<number> {
  for (;;) {
    const port = FIRST_PORT + Math.floor(Math.random() * (LAST_PORT - FIRST_PORT + 1))
    if (!(await portIsFree(port))) continue
    if (!bus || (await portIsFree(port + 10000))) return port
  }
}

function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    // DEBUG is allowed (the server listens on loopback only) so tests can stall it (DEBUG SLEEP).
    '--enable-debug-command',
    'yes',
    ...extra,
  ]
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  child.once('exit', () => live.delete(child))
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(
      () => fail(new Error(`redis-server on port ${port} did not start in 10 s:\n${output}`)),
      10_000,
    )
    const fail = (error: Error) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(error)
    }
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        child.stdout!.removeAllListeners('data')
        keepLog(port, output, child)
        resolve(child)
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('exit', (code) =>
      fail(new Error(`redis-server on port ${port} exited with ${code}:\n${output}`)),
    )
  })
}

/**
 * With REDFLEET_TEST_REDIS_LOGS=<dir>, each server's log goes on into <dir>/<port>.log (kept
 * across restarts, to read after a failed fault test); otherwise it is read and dropped.
 */
function keepLog(port: number, startup: string, child: ChildProcess): void {
  const dir = process.env.REDFLEET_TEST_REDIS_LOGS
  if (!dir) {
    child.stdout!.resume()
    return
  }
  mkdirSync(dir, { recursive: true })
  const log = createWriteStream(join(dir, `${port}.log`), { flags: 'a' })
  log.write(startup)
  child.stdout!.pipe(log)
}

function terminate(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 2000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill(signal)
  })
}

/** Starts one redis-server; `extra` are more command-line options (e.g. cluster mode). */
export async function startRedis(options: { bus?: boolean; extra?: string[] } = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(options.bus)
    const dir = mkdtempSync(join(tmpdir(), `redfleet-${port}-`))
    try {
      let child = await launch(port, dir, options.extra ?? [])
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        stop: async () => {
          await terminate(child)
          rmSync(dir, { recursive: true, force: true })
        },
        restart: async () => {
          await terminate(child)
          // stop() removed the directory: a restart after a stop needs it back.
          mkdirSync(dir, { recursive: true })
          child = await launch(port, dir, options.extra ?? [])
        },
        kill: () => terminate(child, 'SIGKILL'),
      }
    } catch (error) {
      rmSync(dir, { recursive: true, force: true })
      // Another process may have taken the port between our probe and redis' bind: try another.
      if (attempt >= 5) throw error
    }
  }
}

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'])
  return stdout
}

/** Three masters joined with `redis-cli --cluster create`, ready when every node says cluster_state:ok. */
export async function startCluster(): Promise<{
  urls: string[]
  servers: RedisServer[]
  stop(): Promise<void>
}> {
  const extra = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '5000',
  ]
  const servers = await Promise.all([1, 2, 3].map(() => startRedis({ bus: true, extra })))
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()))
  }
  try {
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`)
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'])
    const deadline = Date.now() + 20_000
    for (;;) {
      const infos = await Promise.all(servers.map((s) => clusterInfo(s.port)))
      if (infos.every((info) => info.includes('cluster_state:ok') && info.includes('cluster_known_nodes:3')))
        break
      if (Date.now() > deadline)
        throw new Error(`the test cluster did not become ready:\n${infos.join('\n')}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return { urls: servers.map((s) => s.url), servers, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
