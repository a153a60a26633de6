/**
 * A process that stalls (a long GC pause, a starved CPU) past its commandTimeout resumes with
 * the replies that arrived meanwhile unread, and its timers due. Node runs due timers before it
 * reads the sockets, so a deadline checked first failed commands Redis had answered: an
 * increment applied once was told `TimeoutError`, outcome 'unknown' (helper-278 saw thousands of
 * such timeouts under 0.7–1.8 s stalls). The replies read in that turn settle first now.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { createFleet, type Fleet } from '../../src/index.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const fleets: Fleet[] = []
after(() => Promise.all(fleets.map((fleet) => fleet.close())))

/** Blocks this process for `ms`: its timers and sockets go unserved, as in a stall. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

const COMMAND_TIMEOUT = 200

/**
 * Three increments on a fleet of `transport` (not retried after a timeout, SPEC §8: a false one
 * shows as a rejection), each sent and then, once `untilStall` resolves, the process stalled for
 * five timeouts while Redis, another process, answers.
 */
async function countThroughStalls(transport: 'ioredis' | 'node-redis', untilStall: () => Promise<void>) {
  const { standalone } = await testServers()
  const fleet = createFleet({
    url: standalone,
    namespace: uniqueNamespace('stall'),
    transport,
    commandTimeout: COMMAND_TIMEOUT,
  })
  fleets.push(fleet)
  const store = fleet.store()
  await store.set('warm', 1)
  for (let n = 1; n <= 3; n++) {
    const counting = store.increment('n')
    await untilStall()
    stall(5 * COMMAND_TIMEOUT)
    assert.equal(await counting, n)
  }
}

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: a reply that arrived while the process stalled past commandTimeout is taken, not timed out`, () =>
    // Written by then (the client sends a tick's commands at its end), and answered during the stall.
    countThroughStalls(transport, async () => {
      for (let turn = 0; turn < 3; turn++) await nextTurn()
    }))

  test(`${transport}: a stall between a call and the write of its command does not count against the command`, () =>
    // The client takes the command within these microtasks; it writes it at the end of the
    // tick, which they hold off: the stall comes in between, as in a reply handler that runs
    // long after other callers' commands were taken (helper-279).
    countThroughStalls(transport, async () => {
      for (let hop = 0; hop < 50; hop++) await null
    }))
}
