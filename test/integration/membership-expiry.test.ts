/**
 * A member's expiry on Redis is never before its ttl has passed since the heartbeat, by the
 * server's clock (docs/membership.md: alive for `ttl` ms from the heartbeat). The script counted
 * from TIME rounded down to the millisecond, so the stored expiry was up to 1 ms early: with
 * `ttl: 2`, `live()` right after a heartbeat missed the member 2 times in 200 (helper-143).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createFleet } from '../../src/index.ts'
import { command } from '../harness/faults.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** The server's clock in ms, to the microsecond (TIME). */
async function serverTime(port: number): Promise<number> {
  const [seconds, micros] = (await command(port, 'TIME')) as [string, string]
  return Number(seconds) * 1000 + Number(micros) / 1000
}

test('standalone: a heartbeat stores an expiry no earlier than ttl after the moment before it', async () => {
  const { standalone } = await testServers()
  const port = Number(new URL(standalone).port)
  const namespace = uniqueNamespace('expiry')
  const fleet = createFleet({ url: standalone, namespace })
  try {
    // Long enough for the score to be read back before the key expires; the rounding is the same.
    const ttl = 60_000
    const members = fleet.membership({ ttl })
    await members.heartbeat('warm-up')
    const early: string[] = []
    for (let n = 0; n < 30; n++) {
      const before = await serverTime(port)
      await members.heartbeat(`m${n}`)
      const expiry = Number(await command(port, 'ZSCORE', `${namespace}:membership:live`, `m${n}`))
      if (expiry < before + ttl) early.push(`${(expiry - before).toFixed(3)} ms`)
    }
    assert.deepEqual(early, [], 'expiries less than ttl after a moment before their heartbeat')
  } finally {
    await fleet.close()
  }
})
