/**
 * A consume aborted while Redis holds its read back (CLIENT PAUSE WRITE: XREADGROUP is a write):
 * the abort's CLIENT UNBLOCK with its default TIMEOUT crashed Redis 7.0 ("Guru Meditation:
 * Unknown btype in replyToBlockedClientTimedOut", helper-152). It is sent with ERROR. A private
 * server, since it is paused (and was crashed).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { BLOCK_INTERVAL } from '../../src/streams/consumer.ts'
import { command } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

/** The pause: longer than a block interval, so that the loop's next read is held back. */
const PAUSE = 3 * BLOCK_INTERVAL

test('a consume aborted while the server holds its read back (CLIENT PAUSE WRITE) leaves the server up', async () => {
  const fleet = createFleet({
    url: server.url,
    namespace: uniqueNamespace('abort-paused'),
    onError: () => {},
  })
  try {
    const streams = fleet.streams()
    await streams.ensureGroup('g')
    const stop = new AbortController()
    let handled = 0
    const consuming = streams.consume('g', 'c', () => void handled++, { signal: stop.signal })
    await streams.publish({ n: 0 })
    while (handled === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    await command(server.port, 'CLIENT', 'PAUSE', PAUSE, 'WRITE')
    // The read under way when the pause began ends within its interval; the next one is held.
    await new Promise((resolve) => setTimeout(resolve, BLOCK_INTERVAL + 200))
    stop.abort()
    await consuming
    assert.equal(await command(server.port, 'PING'), 'PONG', 'the server is still up')
    await command(server.port, 'CLIENT', 'UNPAUSE')
  } finally {
    await fleet.close()
  }
})
