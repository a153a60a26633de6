/**
 * `npm run bench [-- filter]`: a request for help, or a filter no scenario's name contains, is
 * answered before the suite starts its redis-server (an empty run looked like a bench that
 * measured nothing worth printing).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { cli, root } from './cli-support.ts'

const suite = join(root, 'bench/run.ts')

test('bench --help prints its usage and the scenarios, exit 0', async () => {
  for (const flag of ['--help', '-h']) {
    const result = await cli([flag], process.env, suite)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^Usage: npm run bench \[-- filter\]/)
    assert.match(result.stdout, /\n {2}store get\n/)
  }
})

test('a filter no scenario matches is a usage error naming it and the scenarios, before any server', async () => {
  const result = await cli(['no such scenario'], process.env, suite)
  assert.equal(result.code, 2)
  assert.equal(result.stdout, '', 'no server started: its url is the first line a run prints')
  assert.match(result.stderr, /^bench: no scenario's name contains "no such scenario"; the scenarios:\n/)
  assert.match(result.stderr, /\n {2}cache write\n/)
})
