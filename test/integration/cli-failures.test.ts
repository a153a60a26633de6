import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { assertOneLine, cli, root, standaloneFleets } from './cli-support.ts'

describe('redfleet command: failures', () => {
  const standaloneFleet = standaloneFleets()

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

  test('dashboard exits 1 with the reason when it cannot reach Redis or cannot listen', async () => {
    const unreachable = await cli(['dashboard', '--url', 'redis://127.0.0.1:1', '--port', '0'])
    assert.equal(unreachable.code, 1)
    assert.match(unreachable.stderr, /cannot reach Redis/)
    assertOneLine(unreachable.stderr)

    const { url } = await standaloneFleet()
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    try {
      const address = taken.address()
      const port = String(typeof address === 'object' && address ? address.port : 0)
      const busy = await cli(['dashboard', '--url', url, '--port', port])
      assert.equal(busy.code, 1)
      assert.match(busy.stderr, /EADDRINUSE/)
      assertOneLine(busy.stderr)
    } finally {
      taken.close()
    }
  })
})
