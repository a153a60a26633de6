import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { purgeDeadLetters } from '../../src/admin/dead-letters.ts'
import { releaseOrphan } from '../../src/admin/orphans.ts'
import { createFleet, InvalidArgumentError } from '../../src/index.ts'
import { convertDataStore } from '../../src/integrations/convert.ts'

// Bad arguments are programming errors: a TypeError (SPEC §1) that is an InvalidArgumentError
// with a stable code, whichever primitive gets them. Bad options to a factory are ConfigErrors.
const fleet = createFleet({ namespace: 'argument-errors' })
after(() => fleet.close())

/** Runs `call` (sync throw or rejection alike) and returns what it failed with. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  assert.fail('the call did not fail')
}

async function assertInvalidArgument(call: () => unknown, mentions: RegExp): Promise<void> {
  const error = await failure(call)
  assert.ok(error instanceof InvalidArgumentError, `expected an InvalidArgumentError, got ${String(error)}`)
  assert.ok(error instanceof TypeError)
  assert.equal(error.code, 'ERR_INVALID_ARGUMENT')
  assert.match(error.message, mentions)
}

test('streams: names, callbacks, signals, counts, ids and envelopes', async () => {
  const streams = fleet.streams()
  await assertInvalidArgument(
    () => streams.publishToChannel('', { a: 1 }),
    /streams\.publishToChannel: channel must not be empty/,
  )
  await assertInvalidArgument(() => streams.publish({ a: 1 }, 'c' as never), /channels must be an array/)
  await assertInvalidArgument(
    () => streams.publish(new Map() as never),
    /envelope must be a plain JSON object/,
  )
  await assertInvalidArgument(() => streams.publish({ a: 1 }, [], 'x' as never), /options must be an object/)
  await assertInvalidArgument(
    () => streams.readRange('c', undefined, 0),
    /limit must be a positive integer, got the number 0/,
  )
  await assertInvalidArgument(() => streams.readRange('c', 'not-an-id'), /id must be a stream id/)
  await assertInvalidArgument(() => streams.ensureGroup(42 as never), /group must be a string, got number/)
  await assertInvalidArgument(() => streams.consume('g', 'c', 'no' as never), /handle must be a function/)
  await assertInvalidArgument(
    () => streams.consume('g', 'c', () => {}, { batch: 1.5 }),
    /batch must be a positive integer/,
  )
  await assertInvalidArgument(
    () => streams.consume('g', 'c', () => {}, { signal: {} as never }),
    /signal must be an AbortSignal/,
  )
})

test('membership: ids, intervals, members and inbox positions', async () => {
  const membership = fleet.membership({ ttl: 3000 })
  await assertInvalidArgument(() => membership.heartbeat(''), /membership\.heartbeat: id must not be empty/)
  await assertInvalidArgument(() => membership.join('a', { interval: 3000 }), /must be shorter than ttl/)
  await assertInvalidArgument(
    () => membership.join('a', { interval: -1 }),
    /interval must be a positive integer/,
  )
  await assertInvalidArgument(() => membership.owner('k', 'a' as never), /members must be an array/)
  await assertInvalidArgument(() => membership.inbox('a', { from: '1' as never }), /from must be '\$' or '0'/)
})

test('broker and presence: messages, listeners, rooms, payloads', async () => {
  await assertInvalidArgument(
    () => fleet.broker().publish(1 as never),
    /broker\.publish: message must be a string/,
  )
  await assertInvalidArgument(
    () => fleet.broker().subscribe(undefined as never),
    /listener must be a function/,
  )
  const presence = fleet.presence()
  await assertInvalidArgument(() => presence.publish('', 'x'), /presence\.publish: room must not be empty/)
  await assertInvalidArgument(
    () => presence.publish('r', 5 as never),
    /payload must be a string or a Uint8Array/,
  )
  await assertInvalidArgument(
    () => presence.subscribe('r', () => {}, { signal: 1 as never }),
    /signal must be an AbortSignal/,
  )
})

test('admin calls check their arguments', async () => {
  await assertInvalidArgument(
    () => purgeDeadLetters(fleet, 'c', { ids: [1] as never }),
    /ids must be an array of entry ids/,
  )
  await assertInvalidArgument(
    () => releaseOrphan(fleet, { id: 'x' } as never),
    /job must have a string instanceId/,
  )
})

test('a bad option to a factory is a ConfigError with its own code', async () => {
  for (const make of [
    () => fleet.broker({ channel: '' }),
    () => fleet.streams({ eventsMaxLen: 0 }),
    () => fleet.membership({ ttl: 1.5 }),
    () => convertDataStore(fleet, { maxVisitors: 0 }),
  ]) {
    const error = await failure(make)
    assert.equal((error as Error).name, 'ConfigError', String(error))
    assert.equal((error as { code?: string }).code, 'ERR_INVALID_OPTION', String(error))
  }
})
