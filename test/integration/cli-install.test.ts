import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { assertOneLine, cli, root } from './cli-support.ts'

describe('redfleet as an installed package', () => {
  test('outside a source checkout, bench is not advertised and says why it cannot run', async () => {
    const installed = mkdtempSync(join(tmpdir(), 'redfleet-installed-'))
    try {
      cpSync(join(root, 'src'), join(installed, 'src'), { recursive: true })
      cpSync(join(root, 'package.json'), join(installed, 'package.json'))
      symlinkSync(join(root, 'node_modules'), join(installed, 'node_modules'))
      const script = join(installed, 'src/cli/main.ts')
      const help = await cli(['--help'], process.env, script)
      assert.equal(help.code, 0)
      assert.doesNotMatch(help.stdout, /bench/)
      const bench = await cli(['bench'], process.env, script)
      assert.equal(bench.code, 1)
      assert.match(bench.stderr, /source checkout/)
      assertOneLine(bench.stderr)
    } finally {
      rmSync(installed, { recursive: true, force: true })
    }
  })
})
