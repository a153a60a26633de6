/**
 * A memory-only user's first install (issue 12): `npm pack` of a never-built copy of this
 * checkout, installed alone into an empty project (no ioredis, no redis). A TypeScript program
 * using the memory topology must type-check with `tsc --noEmit --strict` (module NodeNext, lib
 * checks on: the published declarations must not need ioredis) and run. Skipped, saying so,
 * when the npm registry cannot be reached.
 */
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { packForInstall, project, runTs, typeCheck } from './package-support.ts'

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
})
