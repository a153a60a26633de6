/**
 * A fresh copy of this checkout (what `git clone` of the working tree would give, with the
 * checkout's node_modules linked in) to pack, so a test sees what `npm pack` and a git install
 * make from a tree that has never been built; and empty projects to install the tarball into.
 * Used by package.test.ts and package-install-*.test.ts.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after } from 'node:test'
import { pathToFileURL } from 'node:url'
import { type Outcome, root, runBounded } from './docs-blocks.ts'

/** Generous bound for one npm command on a loaded machine (within the runner's 120 s per file). */
export const PACK_LIMIT_MS = 90_000

/** A temporary directory removed after the file's tests (call it at the top level, not in a hook). */
export function temporaryDirectory(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `redfleet-${label}-`))
  after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Copies the tracked and untracked-but-not-ignored files (no dist/, no node_modules/). */
export function freshCopy(): string {
  const copy = temporaryDirectory('clone')
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  })
  for (const file of listed.split('\0')) {
    if (file === '' || !existsSync(join(root, file))) continue // deleted in the working tree
    // A node_modules that is a symlink is no directory to .gitignore's `node_modules/`: linked below.
    if (file === 'node_modules') continue
    mkdirSync(dirname(join(copy, file)), { recursive: true })
    cpSync(join(root, file), join(copy, file))
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir')
  return copy
}

/**
 * The environment for an npm run inside a test: without the `npm_*` variables of the `npm test`
 * that started us, which would point the inner npm at this checkout (`npm_config_local_prefix`)
 * instead of its own directory.
 */
export function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name) && name !== 'INIT_CWD') env[name] = value
  }
  return env
}

/** An entry of `npm pack --json`. */
export interface PackResult {
  filename: string
  files: { path: string }[]
}

/** Generous bound for one program or one tsc run on a loaded machine. */
const STEP_LIMIT_MS = 60_000

export function npm(args: string[], cwd: string): Promise<Outcome> {
  return runBounded('npm', args, { cwd, env: npmEnvironment(), limitMs: PACK_LIMIT_MS })
}

export function assertOk(outcome: Outcome, what: string): void {
  const ended = outcome.timedOut ? 'did not finish in time' : `exited with ${outcome.code ?? outcome.signal}`
  assert.ok(!outcome.timedOut && outcome.code === 0, `${what} ${ended}:\n${outcome.output}`)
}

/** A user's machine: a fresh copy packed into a tarball, or why the npm registry cannot be used. */
export interface Packed {
  work: string
  tarball: string
  offline?: string
}

/**
 * Packs a fresh copy of this checkout into a temporary directory; call it at the top level of a
 * test file and await it in the tests. `offline` says why when the registry is unreachable (the
 * installs need it), and nothing is packed then.
 */
export async function packForInstall(): Promise<Packed> {
  const clone = freshCopy()
  const work = temporaryDirectory('install')
  const ping = await npm(['view', 'ioredis@5', 'version', '--json'], work)
  if (ping.code !== 0) {
    const reason = ping.output.trim().split('\n').at(-1)
    return { work, tarball: '', offline: `the npm registry is unreachable (npm view ioredis@5: ${reason})` }
  }
  const pack = await npm(['pack', '--json', '--pack-destination', work], clone)
  assertOk(pack, 'npm pack')
  const [result] = JSON.parse(pack.output.slice(pack.output.indexOf('[\n'))) as PackResult[]
  return { work, tarball: join(work, result!.filename) }
}

/** An empty ESM project with the packed redfleet and `extra` packages installed. */
export async function project(packed: Packed, name: string, extra: string[]): Promise<string> {
  const dir = join(packed.work, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }))
  assertOk(
    await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', packed.tarball, ...extra], dir),
    'npm install',
  )
  return dir
}

/**
 * `tsc --noEmit --strict`, module NodeNext, lib checks on, with the project's config written as
 * `config` in `dir`: with Node's types listed (from this checkout), or with none (`nodeTypes:
 * false`, TypeScript 7's default: only what the declarations reference themselves is loaded).
 */
export async function typeCheck(
  dir: string,
  file: string,
  { nodeTypes = true, config = 'tsconfig.json', limitMs = STEP_LIMIT_MS } = {},
): Promise<void> {
  const compilerOptions = {
    strict: true,
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    target: 'ES2022',
    noEmit: true,
    skipLibCheck: false,
    ...(nodeTypes ? { types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] } : { types: [] }),
  }
  writeFileSync(join(dir, config), JSON.stringify({ compilerOptions, files: [file] }))
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  assertOk(await runBounded(process.execPath, [tsc, '-p', join(dir, config)], { cwd: dir, limitMs }), 'tsc')
}

/** Runs a TypeScript program as the README says (tsx), with REDIS_URL set or not. */
export async function runTs(dir: string, file: string, redisUrl: string | undefined): Promise<string> {
  const env = npmEnvironment()
  delete env.NODE_ENV
  delete env.REDIS_URL
  if (redisUrl) env.REDIS_URL = redisUrl
  const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
  const run = await runBounded(process.execPath, ['--import', tsx, file], {
    cwd: dir,
    env,
    limitMs: STEP_LIMIT_MS,
  })
  assertOk(run, `${file}${redisUrl ? ' on Redis' : ' in memory'}`)
  return run.output
}
