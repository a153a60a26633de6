/**
 * A memory-only user's first install (issue 12): `npm pack` of a never-built copy of this
 * checkout, installed alone into an empty project (no ioredis, no redis). A TypeScript program
 * using the memory topology must type-check with `tsc --noEmit --strict` (module NodeNext, lib
 * checks on: the published declarations must not need ioredis) and run. Skipped, saying so,
 * when the npm registry cannot be reached. Its `redfleet` bin must run too.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { root, runBounded } from './docs-blocks.ts'
import { PACK_LIMIT_MS, packForInstall, project, runTs, typeCheck } from './package-support.ts'

const packed = packForInstall()

test('without ioredis: a memory-only program type-checks and runs', async (t) => {
  const ready = await packed
  if (ready.offline) return t.skip(ready.offline)
  const dir = await project(ready, 'memory-only', [])
  assert.ok(!existsSync(join(dir, 'node_modules', 'ioredis')), 'ioredis was installed')
  writeFileSync(
    join(dir, 'app.ts'),
    [
      "import { createFleet, type Fleet, type Store } from 'redfleet'",
      'const fleet: Fleet = createFleet()',
      "const counters: Store<number> = fleet.store<number>({ prefix: 'count:' })",
      "console.log('hits', await counters.increment('hits'))",
      'await fleet.close()',
    ].join('\n'),
  )
  await typeCheck(dir, 'app.ts')
  assert.match(await runTs(dir, 'app.ts', undefined), /hits 1/)
  // The bin of the installed package runs from its dist/.
  const cli = await runBounded(join(dir, 'node_modules', '.bin', 'redfleet'), ['--version'], {
    cwd: dir,
    limitMs: PACK_LIMIT_MS,
  })
  assert.equal(cli.code, 0, cli.output)
  assert.equal(
    cli.output.trim(),
    (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
  )
  // CommonJS: Node 20.19+ loads an ES module from require(), given an export condition it takes.
  if (!(process.features as { require_module?: boolean }).require_module) return
  const entries = ['redfleet', 'redfleet/convert', 'redfleet/keyv']
  writeFileSync(
    join(dir, 'app.cjs'),
    entries.map((name) => `console.log('${name}', Object.keys(require('${name}')).length > 0)`).join('\n'),
  )
  const required = await runBounded(process.execPath, ['app.cjs'], { cwd: dir, limitMs: PACK_LIMIT_MS })
  assert.equal(required.code, 0, required.output)
  for (const name of entries) assert.match(required.output, new RegExp(`${name} true`))
})
