/**
 * The code blocks of README.md and docs/*.md, as programs: extraction, and a scratch project to
 * write and run them in (used by docs.test.ts and docs-types.test.ts).
 *
 * A fenced ```ts, ```typescript, ```js or ```javascript block is a program unless it is marked as
 * a fragment (it only shows an API shape and uses names it does not define): the word
 * `fragment` in its info string (```ts fragment — renderers still highlight it as ts), or
 * `<!-- fragment -->` on the line before its opening fence.
 *
 * `redfleet` and `redfleet/<entry>` in a block are run from the sources (src/) of this checkout,
 * so the docs are checked against the code beside them, with no build.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { pathToFileURL } from 'node:url'

export const root = join(import.meta.dirname, '..', '..')

export interface Block {
  /** Where the block's first code line is, e.g. `docs/streams.md:9`. */
  where: string
  file: string
  line: number
  lang: 'ts' | 'js'
  code: string
  fragment: boolean
}

const LANGS: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' }

/** The fenced code blocks of a Markdown file that are TypeScript or JavaScript. */
export function codeBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)(.*)$/.exec(lines[i]!)
    if (!open) continue
    const [, indent = '', fence, info = '', rest = ''] = open
    const end = lines.findIndex((l, j) => j > i && l.trim() === fence)
    const close = end === -1 ? lines.length : end
    const lang = LANGS[info.toLowerCase()]
    if (lang) {
      let previous = i - 1
      while (previous >= 0 && lines[previous]!.trim() === '') previous--
      blocks.push({
        where: `${file}:${i + 2}`,
        file,
        line: i + 2,
        lang,
        code: lines
          .slice(i + 1, close)
          .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
          .join('\n'),
        fragment: /\bfragment\b/.test(rest) || lines[previous]?.trim() === '<!-- fragment -->',
      })
    }
    i = close
  }
  return blocks
}

/** README.md, then docs/*.md. */
export function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`)
  return ['README.md', ...docs]
}

/** Every block of the docs that is a program (not a fragment). */
export function runnableBlocks(): Block[] {
  return markdownFiles()
    .flatMap((file) => codeBlocks(file, readFileSync(join(root, file), 'utf8')))
    .filter((b) => !b.fragment)
}

/**
 * The package's entry points from package.json's exports, as import name → compiled path under
 * dist/ without the extension: `redfleet` → `index`, `redfleet/keyv` → `integrations/keyv`.
 */
export function entryPoints(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, { import: string }>
  }
  const entries = new Map<string, string>()
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const compiled = target.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '')
    entries.set(subpath === '.' ? 'redfleet' : `redfleet/${subpath.slice(2)}`, compiled)
  }
  return entries
}

/**
 * A temporary ESM project (removed after the file's tests) whose node_modules is the
 * checkout's, so the packages a block imports (keyv, cache-manager, ...) resolve as in a
 * user's project.
 */
export function scratchProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'redfleet-docs-'))
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }))
  after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A file name for the block, unique per file and line. */
export function fileName(block: Block): string {
  return `${block.file.replace(/[^\w]+/g, '-')}-${block.line}.${block.lang === 'ts' ? 'ts' : 'mjs'}`
}

/** Writes the block into `dir`, its `redfleet` imports pointing at this checkout's sources. */
export function writeProgram(dir: string, block: Block): string {
  const entries = entryPoints()
  const code = block.code.replace(/(['"])(redfleet(?:\/[\w-]+)?)\1/g, (whole, _quote, name: string) => {
    const compiled = entries.get(name)
    return compiled ? `'${pathToFileURL(join(root, 'src', `${compiled}.ts`)).href}'` : whole
  })
  const path = join(dir, fileName(block))
  writeFileSync(path, code)
  return path
}

/** Generous: a block starts tsx and a fleet, on a loaded 2-core machine; none should come near. */
const BLOCK_LIMIT_MS = 60_000

export interface Outcome {
  code: number | null
  signal: NodeJS.Signals | null
  /** stdout and stderr, interleaved. */
  output: string
  timedOut: boolean
}

/**
 * Runs a command in its own process group and kills the whole group (tsc's and tsx's helper
 * processes included) if it has not ended within `limitMs`.
 */
export function runBounded(
  command: string,
  args: string[],
  o: { cwd: string; env?: NodeJS.ProcessEnv; limitMs: number },
): Promise<Outcome> {
  const child = spawn(command, args, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    process.kill(-child.pid!, 'SIGKILL')
  }, o.limitMs)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output, timedOut })
    })
  })
}

function runProgram(scratch: string, path: string, redisUrl: string | undefined): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.NODE_ENV
  delete env.REDIS_URL
  if (redisUrl) env.REDIS_URL = redisUrl
  return runBounded(process.execPath, ['--import', 'tsx', path], {
    cwd: scratch,
    env,
    limitMs: BLOCK_LIMIT_MS,
  })
}

/**
 * Runs the block as its own program in `scratch` (with tsx, REDIS_URL set or not) and asserts
 * that it exits 0 by itself within BLOCK_LIMIT_MS; a failure names the block's file and line.
 */
export async function assertRuns(
  scratch: string,
  block: Block,
  topology: string,
  redisUrl: string | undefined,
): Promise<void> {
  const outcome = await runProgram(scratch, writeProgram(scratch, block), redisUrl)
  const ended = outcome.timedOut
    ? `did not end by itself within ${BLOCK_LIMIT_MS / 1000} s`
    : `exited with ${outcome.code ?? outcome.signal}`
  assert.ok(
    !outcome.timedOut && outcome.code === 0,
    `${block.where} (${topology}) ${ended}:\n${outcome.output}`,
  )
}
