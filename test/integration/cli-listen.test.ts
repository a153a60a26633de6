import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, test } from 'node:test'
import { assertOneLine, cli, standaloneFleets } from './cli-support.ts'

describe('redfleet dashboard on a taken port', () => {
  const standaloneFleet = standaloneFleets()

  test('dashboard exits 1 with the reason when it cannot listen', async () => {
    const { url } = await standaloneFleet()
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    try {
      const address = taken.address()
      const port = String(typeof address === 'object' && address ? address.port : 0)
      const busy = await cli(['dashboard', '--url', url, '--port', port])
      assert.equal(busy.code, 1)
      assert.match(busy.stderr, /^redfleet: .*EADDRINUSE/)
      assertOneLine(busy.stderr)
    } finally {
      taken.close()
    }
  })
})
