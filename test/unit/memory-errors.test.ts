import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { CommandError, translateError } from '../../src/errors.ts'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet } from '../../src/index.ts'
import { MemoryStreamBackend } from '../../src/streams/memory.ts'

// A command the memory topology refuses fails as the Redis one does: a CommandError that names
// the operation and the caller's key or channel, never the namespaced key the backend works on
// (SPEC §1: messages name the operation and the key). The memory backends raise the reply as
// Redis words it and the operation runner builds the message, as it does for Redis.
const NAMESPACE = 'memerrns'
const fleet = createFleet({ namespace: NAMESPACE })
const ctx = fleetContext(fleet)
after(() => fleet.close())

async function commandError(call: () => Promise<unknown>): Promise<CommandError> {
  const error = await call().then(
    () => assert.fail('the call did not fail'),
    (e: unknown) => e,
  )
  assert.ok(error instanceof CommandError, `expected a CommandError, got ${String(error)}`)
  assert.equal(error.code, 'ERR_COMMAND')
  assert.ok(!error.message.includes(NAMESPACE), `names the namespaced key: ${error.message}`)
  return error
}

test('cache.increment of a value that is not an integer names the cache key', async () => {
  const reported: unknown[] = []
  const cache = fleet.cache({ errorHandler: ({ exception }) => void reported.push(exception) })
  await cache.write('text', 'abc', { raw: true })
  assert.equal(await cache.increment('text'), undefined)
  assert.equal(reported.length, 1)
  const error = await commandError(() => Promise.reject(reported[0]))
  assert.match(error.message, /^cache\.increment 'text' failed: ERR value is not an integer or out of range$/)
})

test('membership on a key holding another type: WRONGTYPE, naming the member id', async () => {
  const membership = fleet.membership({ onError: () => {} })
  ctx.memory.set(ctx.keys.key('membership', 'live'), 'not a set')
  try {
    const error = await commandError(() => membership.heartbeat('worker-1'))
    assert.match(error.message, /^membership\.heartbeat 'worker-1' failed: WRONGTYPE /)
  } finally {
    ctx.memory.delete(ctx.keys.key('membership', 'live'))
  }
})

test('streams on a key holding another type: WRONGTYPE, naming the channel', async () => {
  const streams = fleet.streams({ onError: () => {} })
  const key = ctx.keys.key('streams', 'channel', 'orders')
  ctx.memory.set(key, 'not a stream')
  try {
    const one = await commandError(() => streams.publishToChannel('orders', { n: 1 }))
    assert.match(one.message, /^streams\.publishToChannel 'orders' failed: WRONGTYPE /)
    const many = await commandError(() => streams.publish({ n: 1 }, ['orders']))
    assert.match(many.message, /^streams\.publish failed: WRONGTYPE /)
  } finally {
    ctx.memory.delete(key)
  }
})

test('a missing consumer group is NOGROUP as Redis words it, after the operation and the group', async () => {
  // The consumer recognises NOGROUP in the translated message and recreates the group.
  const backend = new MemoryStreamBackend(ctx.memory)
  const key = ctx.keys.key('streams', 'events')
  const caught = await backend.readGroup(key, 'gone', 'c1', 1, 0, [], new AbortController().signal).then(
    () => assert.fail('readGroup of a missing group resolved'),
    (e: unknown) => e,
  )
  const error = translateError(caught, 'streams.consume', 'gone')
  assert.ok(error instanceof CommandError, String(error))
  assert.match(
    error.message,
    /^streams\.consume 'gone' failed: NOGROUP No such key '.*' or consumer group 'gone'/,
  )
})
