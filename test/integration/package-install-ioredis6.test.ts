/**
 * A user's first install (issue 12), with ioredis 6: `npm pack` of a never-built copy of this
 * checkout, installed with `npm install <tarball> ioredis@6` into an empty project (no
 * legacy-peer-deps: the peer range must accept ioredis 6). The README quick start must
 * type-check with `tsc --noEmit --strict` (module NodeNext, lib checks on) and run, in memory and
 * on this run's standalone Redis. Skipped, saying so, when the npm registry cannot be reached.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { testServers } from '../harness/servers.ts'
import { codeBlocks, root } from './docs-blocks.ts'
import { packForInstall, project, runTs, typeCheck } from './package-support.ts'

const packed = packForInstall()

test('with ioredis 6: the README quick start type-checks and runs in memory and on Redis', async (t) => {
  const ready = await packed
  if (ready.offline) return t.skip(ready.offline)
  const dir = await project(ready, 'with-ioredis6', ['ioredis@6'])
  const installed = JSON.parse(readFileSync(join(dir, 'node_modules', 'ioredis', 'package.json'), 'utf8'))
  assert.equal(installed.version.split('.')[0], '6')
  const quickStart = codeBlocks('README.md', readFileSync(join(root, 'README.md'), 'utf8')).find(
    (b) => !b.fragment && b.code.includes('createFleet'),
  )!
  writeFileSync(join(dir, 'app.ts'), quickStart.code)
  await typeCheck(dir, 'app.ts')
  const { standalone } = await testServers()
  // A database of its own: the quick start's keys (namespace 'shop') are the same in every run of
  // it, and the other install test and docs-redis run it at the same time (a second 'pear').
  for (const url of [undefined, `${standalone}/12`]) {
    assert.match(await runTs(dir, 'app.ts', url), /\{ items: \[ 'apple', 'pear' \] \}/)
  }
})
