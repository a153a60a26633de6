/**
 * A fresh copy of this checkout (what `git clone` of the working tree would give, with the
 * checkout's node_modules linked in) to pack, so a test sees what `npm pack` and a git install
 * make from a tree that has never been built. Used by package.test.ts and
 * package-install.test.ts.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after } from 'node:test'
import { root } from './docs-blocks.ts'

/** Generous bounds for npm and tsc on a loaded machine; each test file stays within the runner's 120 s. */
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
