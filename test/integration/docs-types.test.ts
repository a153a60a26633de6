/**
 * The TypeScript blocks of README.md and docs/*.md (the README quick start included) type-check
 * as a user's project compiles them: strict (and exactOptionalPropertyTypes), module NodeNext, against the declarations this
 * checkout's build publishes. Also: how blocks and the fragment marker are found (docs-blocks.ts).
 */
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  type Block,
  codeBlocks,
  entryPoints,
  fileName,
  root,
  runBounded,
  runnableBlocks,
  scratchProject,
} from './docs-blocks.ts'

/** Generous, and below the runner's per-file limit so that a stuck tsc fails here, not leaks. */
const TSC_LIMIT_MS = 100_000

test('blocks: ts/typescript/js/javascript fences; a fragment is marked in the info string or by a comment', () => {
  const text = [
    '```ts fragment',
    'shape()',
    '```',
    '<!-- fragment -->',
    '',
    '```js',
    'shape()',
    '```',
    '  ```typescript',
    '  run()',
    '  ```',
    '```sh',
    'npm test',
    '```',
  ].join('\n')
  assert.deepEqual(
    codeBlocks('x.md', text).map((b) => [b.where, b.lang, b.fragment, b.code]),
    [
      ['x.md:2', 'ts', true, 'shape()'],
      ['x.md:7', 'js', true, 'shape()'],
      ['x.md:10', 'ts', false, 'run()'],
    ],
  )
})

test('every TypeScript block type-checks in strict NodeNext mode, the README quick start included', async () => {
  const typed = runnableBlocks().filter((b) => b.lang === 'ts')
  assert.ok(
    typed.some((b) => b.file === 'README.md' && b.code.includes('createFleet')),
    'no README quick start found',
  )
  const dir = scratchProject()
  const byName = new Map<string, Block>()
  for (const block of typed) {
    byName.set(fileName(block), block)
    writeFileSync(join(dir, fileName(block)), block.code)
  }
  // The declarations a user gets (the build's, without its type check of the sources, which
  // is `npm run typecheck`'s business), so that only the blocks are checked here.
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const types = join(dir, 'types')
  const emit = await runBounded(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--noCheck', '--emitDeclarationOnly', '--outDir', types],
    { cwd: root, limitMs: TSC_LIMIT_MS },
  )
  // Errors of work in progress elsewhere may make tsc exit non-zero; it emits all the same.
  assert.ok(existsSync(join(types, 'index.d.ts')), `no declarations emitted: ${emit.output}`)
  const paths = Object.fromEntries(
    [...entryPoints()].map(([name, compiled]) => [name, [join(types, `${compiled}.d.ts`)]]),
  )
  const compilerOptions = {
    strict: true,
    // The strictest setting a user may have: `url: process.env.REDIS_URL` (string | undefined)
    // must still be a valid option, as SPEC §1 has it.
    exactOptionalPropertyTypes: true,
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    target: 'ES2022',
    noEmit: true,
    types: ['node'],
    paths,
  }
  // Beside the blocks: every call option that may be given as undefined, from a variable of
  // type `T | undefined` (what exactOptionalPropertyTypes refuses unless the type says so), and
  // an event typed as an interface (which TypeScript gives no index signature).
  writeFileSync(join(dir, TYPING), TYPING_CODE)
  const files = [...byName.keys(), TYPING]
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }))
  const check = await runBounded(process.execPath, [tsc, '-p', dir], { cwd: dir, limitMs: TSC_LIMIT_MS })
  assert.ok(!check.timedOut, `tsc did not finish within ${TSC_LIMIT_MS / 1000} s`)
  // The blocks' own errors, at their line in the Markdown file. The sources' errors are
  // `npm run typecheck`'s business.
  const errors = check.output
    .split('\n')
    .map((line) => /^([\w.-]+\.ts)\((\d+),(\d+)\): (error .*)$/.exec(line))
    .flatMap((m) => {
      if (m?.[1] === TYPING) return [`${m[1]}:${m[2]}:${m[3]} ${m[4]}`]
      const block = m && byName.get(m[1]!)
      return block ? [`${block.file}:${block.line + Number(m[2]) - 1}:${m[3]} ${m[4]}`] : []
    })
  assert.deepEqual(errors, [], errors.join('\n'))
})

const TYPING = 'typing.ts'
const TYPING_CODE = `import { createFleet, failsafe } from 'redfleet'
declare const maybe: { n?: number; s?: string; b?: boolean; signal?: AbortSignal; f?: () => void }
const fleet = createFleet({ url: process.env.REDIS_URL })
const cache = fleet.cache()
await cache.exist('k', { version: maybe.s })
await cache.readMulti(['k'], { version: maybe.n })
await cache.fetch('k', { force: maybe.b, skipNil: maybe.b }, () => 1)
await cache.increment('k', 1, { expiresIn: maybe.n })
await cache.decrement('k', 1, { expiresIn: maybe.n })
await cache.writeCounter('k', 1, { expiresIn: maybe.n })
const streams = fleet.streams()
await streams.tail('ch', '0', () => {}, { signal: maybe.signal })
await streams.tailEvents(() => {}, { signal: maybe.signal })
await fleet.presence().subscribe('room', () => {}, { signal: maybe.signal })
const members = fleet.membership()
members.join('id', { interval: maybe.n })
members.inbox('id', { signal: maybe.signal })
await fleet.tracker().stop({ releaseJobs: maybe.b })
failsafe(fleet.store(), { onError: maybe.f })
interface OrderPlaced {
  type: 'order.placed'
  orderId: string
}
const placed: OrderPlaced = { type: 'order.placed', orderId: 'o1' }
await streams.publish(placed, ['orders'])
await streams.publishToChannel('orders', placed)
`
