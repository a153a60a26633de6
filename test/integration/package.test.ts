/**
 * What `npm pack` makes from a fresh clone (SPEC §1: ioredis is an optional peer; issue 12:
 * a clean clone used to pack a 6 kB tarball with no dist/). `npm pack --dry-run --json` in a
 * copy of this checkout that was never built must list the compiled package: every export's
 * .js and .d.ts, the Lua scripts, the bin, no tests and no source maps whose sources are not
 * shipped; and no published declaration may need a Redis client package, nor Node's types loaded
 * for it (TypeScript 7 loads no @types by itself).
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, test } from 'node:test'
import { entryPoints, root, runBounded } from './docs-blocks.ts'
import { freshCopy, npmEnvironment, PACK_LIMIT_MS, type PackResult, typeCheck } from './package-support.ts'

const clone = freshCopy()
let files: Set<string>

before(async () => {
  const pack = await runBounded('npm', ['pack', '--dry-run', '--json'], {
    cwd: clone,
    env: npmEnvironment(),
    limitMs: PACK_LIMIT_MS,
  })
  assert.ok(!pack.timedOut && pack.code === 0, `npm pack --dry-run failed:\n${pack.output}`)
  // The JSON is the last thing printed; the build's output comes before it.
  const json = pack.output.slice(pack.output.indexOf('[\n'))
  const [result] = JSON.parse(json) as PackResult[]
  files = new Set(result!.files.map((f) => f.path))
})

test('the package carries the compiled code of every export, its declarations and the bin', () => {
  for (const compiled of entryPoints().values()) {
    assert.ok(files.has(`dist/${compiled}.js`), `dist/${compiled}.js is not packed`)
    assert.ok(files.has(`dist/${compiled}.d.ts`), `dist/${compiled}.d.ts is not packed`)
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> }
  for (const bin of Object.values(pkg.bin))
    assert.ok(files.has(bin.replace(/^\.\//, '')), `${bin} is not packed`)
  const binSource = readFileSync(join(root, 'bin', 'redfleet.js'), 'utf8')
  for (const [, target] of binSource.matchAll(/from '\.\.\/(dist\/[^']+)'/g)) {
    assert.ok(files.has(target!), `the bin imports ${target}, which is not packed`)
  }
})

test('the license is packed, and so is every docs/ page the README links to', () => {
  assert.ok(files.has('LICENSE'), 'LICENSE is not packed')
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const linked = [...readme.matchAll(/\]\((docs\/[^)#\s]+)/g)].map((m) => m[1]!)
  assert.ok(linked.length > 0, 'the README links to no docs/ page')
  for (const page of linked) assert.ok(files.has(page), `${page} (linked from the README) is not packed`)
})

test('every Lua script under src/ is packed beside its compiled module', () => {
  const scripts = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.lua'),
  )
  for (const script of scripts) assert.ok(files.has(`dist/${script}`), `dist/${script} is not packed`)
})

test('no tests, no sources of tests, and no source map whose sources are not shipped', () => {
  const tests = [...files].filter((f) => /(^|\/)(test|bench)\/|\.test\.[jt]s$/.test(f))
  assert.deepEqual(tests, [])
  const maps = [...files].filter((f) => f.endsWith('.map'))
  for (const map of maps) {
    const { sources } = JSON.parse(readFileSync(join(clone, map), 'utf8')) as { sources: string[] }
    for (const source of sources) {
      const shipped = join(map, '..', source).replace(/\\/g, '/')
      assert.ok(files.has(shipped), `${map} points at ${source}, which is not packed`)
    }
  }
})

test('no published declaration imports a Redis client package (ioredis, redis)', () => {
  const offenders = [...files]
    .filter((f) => f.endsWith('.d.ts'))
    .filter((f) =>
      /(?:\bfrom\s*|\bimport\s*\(\s*)['"](?:ioredis|redis|@redis\/client)['"]/.test(
        readFileSync(join(clone, f), 'utf8'),
      ),
    )
  assert.deepEqual(offenders, [])
})

test("each entry point's declarations reference Node's types: TypeScript 7 loads no @types by itself", async () => {
  // Kept by tsc since 5.5 only with preserve="true": without it, the source's reference is dropped.
  const reference = '/// <reference types="node" preserve="true" />'
  for (const compiled of entryPoints().values()) {
    const [first] = readFileSync(join(clone, 'dist', `${compiled}.d.ts`), 'utf8').split('\n')
    assert.equal(first, reference, `dist/${compiled}.d.ts does not start with the reference`)
  }
  // A user's program importing every entry point, with no types listed (TypeScript 7's default)
  // and lib checks on: the declarations name Buffer, node:events and node:diagnostics_channel.
  const imports = [...entryPoints().keys()].map((name, i) => `import * as entry${i} from '${name}'`)
  writeFileSync(
    join(clone, 'consumer.ts'),
    [...imports, `console.log(${imports.map((_, i) => `entry${i}`)})`, ''].join('\n'),
  )
  await typeCheck(clone, 'consumer.ts', {
    nodeTypes: false,
    config: 'tsconfig.consumer.json',
    limitMs: PACK_LIMIT_MS,
  })
})
