/**
 * BlockingPool's abort of a consume read (served: what Redis delivered must be handed back), on
 * fakes: CLIENT UNBLOCK answers 0 while the read is not blocked at Redis (not there yet, or
 * answered with its reply still on its way). It is asked again a few times, then the read's own
 * answer is waited for within its bound: polling UNBLOCK every few ms until then sent hundreds
 * per stalled read (helper-149: 7,575 for 16 loops on close).
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

test('an aborted read whose UNBLOCK answers 0 is asked again a few times, then waited for: its reply is handed back', async () => {
  const connection = new HeldRead()
  const { pool, unblocks } = poolOn(connection, () => 0)
  const stop = new AbortController()
  // Learns the connection's id first (CLIENT ID), as a consume's first read does.
  const reading = pool.with('k', stop.signal, 1000, (c) => c.call('XREADGROUP'), true)
  await new Promise((resolve) => setImmediate(resolve))
  stop.abort()
  // Its answer arrives after a while, as a large reply does: it is what the read resolves.
  setTimeout(() => connection.answer(['served']), 100)
  assert.deepEqual(await reading, ['served'])
  assert.ok(unblocks() <= 3, `${unblocks()} UNBLOCKs`)
})
