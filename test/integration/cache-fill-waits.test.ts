/**
 * A fetch that waits for another process's fill subscribes to the fleet namespace's fill
 * notifications; once no wait is left, the subscription is dropped. A cache object made per
 * request that waited once kept it (a listener and a cleanup of the fleet's each) until the fleet
 * closed, and the channel stayed subscribed for good.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { createFleet, type Fleet } from '../../src/index.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

const COMMAND_TIMEOUT = 1000
/** An UNSUBSCRIBE is one round trip: well within a few command timeouts on a loaded machine. */
const UNSUBSCRIBED_WITHIN = 5 * COMMAND_TIMEOUT

const fleets: Fleet[] = []
after(() => Promise.all(fleets.map((fleet) => fleet.close())))

/** A fetch by `holder` whose compute runs until `finish()`: it holds the fill lock of `key`. */
function heldFill(holder: Fleet, key: string) {
  let finish!: (value: unknown) => void
  let computing!: () => void
  const computes = new Promise<void>((resolve) => (computing = resolve))
  const filled = holder.cache().fetch(key, () => {
    computing()
    return new Promise((resolve) => (finish = resolve))
  })
  return { computes, filled, finish: (value: unknown) => finish(value) }
}

test('[standalone] waits for fills subscribe while they wait, and unsubscribe once none is left', async () => {
  const options = { ...(await topologyOptions('standalone')), namespace: uniqueNamespace('fill-waits') }
  const [holder, waiter] = [1, 2].map(() => createFleet({ ...options, commandTimeout: COMMAND_TIMEOUT }))
  fleets.push(holder!, waiter!)
  const raw = new Redis(options.url as string)
  after(() => raw.disconnect())
  const channel = `${options.namespace}:cache~fill`
  const subscribers = async () => ((await raw.pubsub('NUMSUB', channel)) as [string, number])[1]

  for (let request = 0; request < 3; request++) {
    const key = `k${request}`
    const fill = heldFill(holder!, key)
    await fill.computes
    // A cache object per request, as a request handler makes one.
    const waiting = waiter!.cache().fetch(key, () => assert.fail('the holder fills it'))
    const deadline = Date.now() + UNSUBSCRIBED_WITHIN
    while ((await subscribers()) === 0) {
      assert.ok(Date.now() < deadline, 'the wait subscribed')
      await sleep(5)
    }
    fill.finish({ request })
    assert.deepEqual(await fill.filled, { request })
    assert.deepEqual(await waiting, { request })
    while ((await subscribers()) !== 0) {
      assert.ok(Date.now() < deadline, 'no wait is left: the channel is unsubscribed')
      await sleep(5)
    }
  }
})
