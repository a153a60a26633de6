/**
 * BlockingPool's abort of a consume read (served: what Redis delivered must be handed back), on
 * fakes: CLIENT UNBLOCK answers 0 while the read is not blocked at Redis (not there yet, or
 * answered with its reply still on its way). It is asked again, less and less often, until the
 * read was blocked or answered, within its bound: polling UNBLOCK every 5 ms sent hundreds per
 * stalled read (helper-149: 7,575 for 16 loops on close); giving up after 3 left a read that
 * reached Redis 100 ms late blocked for its whole interval (helper-150).
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { FailingNodes } from '../../src/failing-nodes.ts'
import { BlockingPool } from '../../src/streams/blocking-pool.ts'
import type { RedisTopology } from '../../src/topology/types.ts'
import type { DedicatedConnection } from '../../src/transport/types.ts'

/** A dedicated connection whose XREADGROUP is answered only when the test says so. */
class HeldRead extends EventEmitter {
  status = 'ready'
  readonly options = {}
  answer: (reply: unknown) => void = () => {}
  async call(command: string): Promise<unknown> {
    if (command === 'CLIENT') return 7 // CLIENT ID
    return new Promise((resolve) => {
      this.answer = resolve
    })
  }
  disconnect(): void {
    this.status = 'end'
    this.emit('close')
  }
}

function poolOn(connection: HeldRead, unblock: () => number) {
  let unblocks = 0
  const master = {
    id: 'n1',
    client: {
      call: async () => {
        unblocks++
        return unblock()
      },
    },
  }
  const topology = {
    batches: async (keys: string[]) => [{ node: 'n1', lane: 0, keys, indexes: [0] }],
    dedicatedToNode: async () => connection as unknown as DedicatedConnection,
    masters: async () => [master],
  } as unknown as RedisTopology
  const pool = new BlockingPool(
    async () => topology,
    () => {},
    new FailingNodes(),
  )
  return { pool, unblocks: () => unblocks }
}

const BLOCK = 1000

test('an aborted read not blocked is asked again less and less often; its late reply is handed back', async () => {
  const connection = new HeldRead()
  const { pool, unblocks } = poolOn(connection, () => 0)
  const stop = new AbortController()
  const reading = pool.with('k', stop.signal, BLOCK, (c) => c.call('XREADGROUP'), true)
  // After its CLIENT ID (asked ahead of the read, as a consume's first read does).
  await new Promise((resolve) => setImmediate(resolve))
  stop.abort()
  // Its answer comes after the whole interval, as a large reply may: what the read resolves.
  setTimeout(() => connection.answer(['served']), BLOCK)
  assert.deepEqual(await reading, ['served'])
  assert.ok(unblocks() <= 10, `${unblocks()} UNBLOCKs in ${BLOCK} ms`)
})

test('an aborted read that reaches Redis late is unblocked once it is there, not at the end of its interval', async () => {
  const connection = new HeldRead()
  const started = performance.now()
  // Blocked at Redis 100 ms after the abort: UNBLOCK answers 1 from then on, and the read nil.
  const { pool } = poolOn(connection, () => {
    if (performance.now() - started < 100) return 0
    connection.answer(null)
    return 1
  })
  const stop = new AbortController()
  const reading = pool.with('k', stop.signal, BLOCK, (c) => c.call('XREADGROUP'), true)
  await new Promise((resolve) => setImmediate(resolve))
  stop.abort()
  assert.equal(await reading, null)
  const took = performance.now() - started
  assert.ok(took < BLOCK, `the abort took ${Math.round(took)} ms (block ${BLOCK} ms)`)
})

test('an aborted read that never answers ends at its own bound, not after the pause under way then', async () => {
  const connection = new HeldRead()
  const { pool } = poolOn(connection, () => 0)
  const stop = new AbortController()
  const block = 100
  const reading = pool.with('k', stop.signal, block, (c) => c.call('XREADGROUP'), true)
  await new Promise((resolve) => setImmediate(resolve))
  const started = performance.now()
  stop.abort()
  // The read's bound: block + READ_GRACE (2 s). Pauses of 5, 10, …, 1280 ms ran to 2.56 s.
  await assert.rejects(reading, { name: 'TimeoutError' })
  const took = performance.now() - started
  assert.ok(took < block + 2000 + 300, `ended ${Math.round(took)} ms after the abort`)
})
