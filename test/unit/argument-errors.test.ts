import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { purgeDeadLetters } from '../../src/admin/dead-letters.ts'
import { releaseOrphan } from '../../src/admin/orphans.ts'
import {
  type CacheOptions,
  ConfigError,
  createFleet,
  failsafe,
  InvalidArgumentError,
  retry,
} from '../../src/index.ts'
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

async function assertInvalidArgument(
  call: () => unknown,
  mentions: RegExp,
  code: InvalidArgumentError['code'] = 'ERR_INVALID_ARGUMENT',
): Promise<void> {
  const error = await failure(call)
  assert.ok(error instanceof InvalidArgumentError, `expected an InvalidArgumentError, got ${String(error)}`)
  assert.ok(error instanceof TypeError)
  assert.equal(error.code, code, error.message)
  assert.match(error.message, mentions)
}

async function assertInvalidOption(make: () => unknown, mentions: RegExp): Promise<void> {
  const error = await failure(make)
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
  assert.equal(error.code, 'ERR_INVALID_OPTION', error.message)
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
  await assertInvalidArgument(
    () => streams.consume('g', 'c', () => {}, { deadLetter: '' }),
    /streams\.consume: deadLetter must not be empty/,
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
  // A Node timer fires at once past 2^31 - 1 ms: a heartbeat every millisecond.
  const long = fleet.membership({ ttl: 2 ** 40 })
  await assertInvalidArgument(
    () => long.join('a', { interval: 2 ** 31 }),
    /membership\.join: interval must be at most 2147483647 ms \(the longest delay a Node timer holds\)/,
  )
  const joined = long.join('b')
  await joined.stop()
})

test('broker and presence: messages, listeners, rooms, payloads', async () => {
  await assertInvalidArgument(
    () => fleet.broker().publish(1 as never),
    /broker\.publish: message must be a string/,
  )
  // Redis would deliver U+FFFD in its place: refused on every topology alike.
  await assertInvalidArgument(
    () => fleet.broker().publish('a\uD800'),
    /broker\.publish: message holds a lone surrogate, .* so it would not come back as it was$/,
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

test('store.setMany: every entry is a [key, value] pair, and a refused call writes none', async () => {
  const store = fleet.store({ prefix: 'pairs:' })
  for (const bad of [[['a', 1, 'extra']], [['a', 1], ['b']], ['ab']]) {
    await assertInvalidArgument(
      () => store.setMany(bad as never),
      /entries must be an array of \[key, value\] pairs/,
    )
  }
  assert.deepEqual(await store.getMany(['a', 'b']), [undefined, undefined])
})

test('failsafe and retry check their own arguments', async () => {
  const store = fleet.store()
  await assertInvalidArgument(
    () => failsafe(5 as never),
    /failsafe: the primitive must be an object, got the number 5/,
  )
  await assertInvalidArgument(
    () => failsafe(store, { onErr: () => {} } as never),
    /unknown option "onErr".*"onError"/,
  )
  await assertInvalidArgument(
    () => failsafe(store, { onError: 'log' } as never),
    /onError must be a function/,
  )
  await assertInvalidArgument(() => retry(5 as never), /retry: fn must be a function/)
})

test('a bad option to a factory is a ConfigError with its own code', async () => {
  for (const make of [
    () => fleet.broker({ channel: '' }),
    () => fleet.streams({ eventsMaxLen: 0 }),
    () => fleet.membership({ ttl: 1.5 }),
    () => convertDataStore(fleet, { maxVisitors: 0 }),
    () => convertDataStore(fleet, { ttl: -1 }),
    () => convertDataStore(fleet, { ttl: 1.5 }),
    () => convertDataStore(fleet, { ttl: '5' as never }),
    () => convertDataStore(fleet, { prefix: 5 as never }),
  ]) {
    const error = await failure(make)
    assert.equal((error as Error).name, 'ConfigError', String(error))
    assert.equal((error as { code?: string }).code, 'ERR_INVALID_OPTION', String(error))
  }
})

test('convertDataStore names an unknown option and a bad ttl itself, before any save', async () => {
  const unknown = await failure(() => convertDataStore(fleet, { prfix: 'x:' } as never))
  assert.equal((unknown as { code?: string }).code, 'ERR_UNKNOWN_OPTION', String(unknown))
  assert.match(String(unknown), /unknown option "prfix" \(did you mean "prefix"\?\)/)
  const ttl = await failure(() => convertDataStore(fleet, { ttl: 0 }))
  assert.match(String(ttl), /ttl must be an integer of at least 1, got the number 0/)
})

test('cache: keys, values, expiry, versions, tags, counters, multi-key calls, globs', async () => {
  const cache = fleet.cache()
  await assertInvalidArgument(() => cache.read(''), /cache\.read: key cannot be blank/, 'ERR_INVALID_KEY')
  await assertInvalidArgument(
    () => cache.write(new Map() as never, 1),
    /a Map cannot be a cache key/,
    'ERR_INVALID_KEY',
  )
  await assertInvalidArgument(() => cache.write('k', undefined), /undefined cannot be cached/)
  await assertInvalidArgument(
    () => cache.write('k', { a: 1 }, { raw: true }),
    /raw values must be strings, numbers, booleans or null/,
  )
  await assertInvalidArgument(() => cache.write('k', '\u0000rf@x', { raw: true }), /may not start with/)
  await assertInvalidArgument(
    () => cache.write('k', 1, 'x' as never),
    /cache\.write: options must be an object/,
  )
  await assertInvalidArgument(
    () => cache.write('k', 1, { expiresIn: 1000, expiresAt: Date.now() + 1000 }),
    /either expiresIn or expiresAt/,
  )
  await assertInvalidArgument(() => cache.write('k', 1, { expiresIn: 0 }), /cannot be negative or zero/)
  await assertInvalidArgument(
    () => cache.write('k', 1, { expiresIn: new Date() as never }),
    /expiresIn should not be a Date/,
  )
  await assertInvalidArgument(
    () => cache.write('k', 1, { expiresIn: '5' as never }),
    /expiresIn must be a number of milliseconds, got the string "5"/,
  )
  await assertInvalidArgument(
    () => cache.write('k', 1, { expiresAt: 'tomorrow' as never }),
    /expiresAt must be a Date or epoch milliseconds/,
  )
  await assertInvalidArgument(() => cache.write('k', 1, { expiresAt: 1 }), /expiresAt is in the past/)
  await assertInvalidArgument(
    () => cache.writeMulti({ k: 1 }, { expiresAt: 1 }),
    /cache\.writeMulti: .*expiresAt is in the past/,
  )
  await assertInvalidArgument(
    () => cache.write('k', 1, { compressThreshold: -1 }),
    /compressThreshold must be a non-negative number/,
  )
  await assertInvalidArgument(
    () => cache.write('k', 1, { tags: [''] }),
    /tags must be an array of non-empty strings/,
  )
  await assertInvalidArgument(
    () => cache.read('k', { version: {} as never }),
    /version must be a string or a number/,
  )
  await assertInvalidArgument(
    () => cache.fetch('k', { force: true }),
    /force: true requires a compute function/,
  )
  await assertInvalidArgument(
    () => cache.fetch('k', {}, 'x' as never),
    /cache\.fetch: compute must be a function/,
  )
  await assertInvalidArgument(
    () => cache.fetchMulti(['k'], {}, undefined as never),
    /requires a compute function/,
  )
  await assertInvalidArgument(() => cache.readMulti('k' as never), /keys must be an array/)
  await assertInvalidArgument(
    () => cache.writeMulti(null as never),
    /entries must be a Map or a plain object, got null/,
  )
  await assertInvalidArgument(() => cache.increment('n', 1.5), /cache\.increment: by must be an integer/)
  await assertInvalidArgument(
    () => cache.increment('n', 1, { expiresIn: -1 }),
    /expiresIn must be a positive number of milliseconds/,
  )
  await assertInvalidArgument(() => cache.writeCounter('n', Number.NaN), /value must be a finite number/)
  await assertInvalidArgument(
    () => cache.deleteMatched(/x/ as never),
    /only Redis glob strings are supported/,
  )
  await assertInvalidArgument(() => cache.invalidateTag(''), /tag must be a non-empty string/)
  const tenanted = fleet.cache({ tenant: () => undefined })
  await assertInvalidArgument(() => tenanted.read('k'), /tenant\(\) returned no tenant/)
})

test('every cache option of the wrong type: the option, what it must be and what it got (SPEC §1)', async () => {
  // One line per CacheOptions name (the type makes a new option fail to compile until it is here).
  const cases: Record<keyof CacheOptions, [unknown, string]> = {
    namespace: [5, 'cache: namespace must be a non-empty string without spaces or braces, got the number 5'],
    expiresIn: ['5000', 'cache: expiresIn must be a positive number, got the string "5000"'],
    raceConditionTtl: [
      '5000',
      'cache: raceConditionTtl must be a non-negative number, got the string "5000"',
    ],
    skipNil: ['yes', 'skipNil must be true or false, got the string "yes"'],
    compress: ['yes', 'compress must be true or false, got the string "yes"'],
    compressThreshold: [
      '1024',
      'cache: compressThreshold must be a non-negative number, got the string "1024"',
    ],
    maxKeySize: [
      '100',
      'cache: maxKeySize must be an integer of at least 64 bytes, or false, got the string "100"',
    ],
    modelVersion: ['1', 'cache: modelVersion must be an integer, got the string "1"'],
    tenant: ['acme', 'cache: tenant must be a function returning the current tenant, got the string "acme"'],
    near: [true, 'cache: near must be false or { max: a positive integer }, got the boolean true'],
    lockTimeout: ['5000', 'cache: lockTimeout must be a non-negative number of ms, got the string "5000"'],
    errorHandler: ['x', 'cache: errorHandler must be a function, got the string "x"'],
    raw: ['yes', 'raw must be true or false, got the string "yes"'],
    retry: [3, 'retry must be an object, got the number 3'],
  }
  for (const [name, [value, message]] of Object.entries(cases)) {
    const error = await failure(() => fleet.cache({ [name]: value } as never))
    assert.ok(error instanceof ConfigError, `${name}: expected a ConfigError, got ${String(error)}`)
    assert.equal(error.code, 'ERR_INVALID_OPTION', error.message)
    assert.equal(error.message, message)
  }
  // Out of range, not only of the wrong type: what came is named too.
  for (const [options, message] of [
    [
      { namespace: 'a b' },
      'cache: namespace must be a non-empty string without spaces or braces, got the string "a b"',
    ],
    [{ modelVersion: 1.5 }, 'cache: modelVersion must be an integer, got the number 1.5'],
    [
      { maxKeySize: 10 },
      'cache: maxKeySize must be an integer of at least 64 bytes, or false, got the number 10',
    ],
    [{ lockTimeout: -1 }, 'cache: lockTimeout must be a non-negative number of ms, got the number -1'],
    [{ near: [] }, 'cache: near must be false or { max: a positive integer }, got an array'],
    [{ near: { max: 0 } }, 'cache: near.max must be a positive integer, got the number 0'],
    [{ near: { max: '10' } }, 'cache: near.max must be a positive integer, got the string "10"'],
    [{ near: {} }, 'cache: near.max must be a positive integer, got undefined'],
    [{ retry: { attempts: '2' } }, 'retry.attempts must be an integer, got the string "2"'],
  ] as const) {
    const error = await failure(() => fleet.cache(options as never))
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    assert.equal(error.code, 'ERR_INVALID_OPTION', error.message)
    assert.equal(error.message, message)
  }
  assert.ok(fleet.cache({ near: false, maxKeySize: false, lockTimeout: 0, modelVersion: 2 }))
})

test("cache option near: an unknown name in it is refused, named as near's (as the fleet's pool.sise)", async () => {
  for (const [near, message] of [
    [{ maxx: 10 }, 'unknown option "near.maxx" (did you mean "near.max"?)'],
    [{ Max: 10 }, 'unknown option "near.Max" (did you mean "near.max"?)'],
    [{ max: 10, foo: 1 }, 'unknown option "near.foo" (known: max)'],
  ] as const) {
    const error = await failure(() => fleet.cache({ near } as never))
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    assert.equal(error.code, 'ERR_UNKNOWN_OPTION', error.message)
    assert.equal(error.message, message)
  }
  assert.ok(fleet.cache({ near: { max: 10 } }))
})

test('tracker: ids, callbacks, instance ids and stop options', async () => {
  const tracker = fleet.tracker()
  await assertInvalidArgument(
    () => tracker.track('', 1, async () => 1),
    /tracker\.track: id must not be empty/,
  )
  await assertInvalidArgument(
    () => tracker.track(7 as never, 1, async () => 1),
    /tracker\.track: id must be a string, got number/,
  )
  await assertInvalidArgument(() => tracker.track('x', 1, 'no' as never), /run must be a function/)
  await assertInvalidArgument(() => tracker.inFlight(''), /tracker\.inFlight: instanceId must not be empty/)
  await assertInvalidArgument(() => tracker.recoverOrphans(1 as never), /requeue must be a function/)
  await assertInvalidArgument(() => tracker.stop(null as never), /tracker\.stop: options must be an object/)
})

test('cache and tracker factories: each bad option is a ConfigError ERR_INVALID_OPTION', async () => {
  await assertInvalidOption(() => fleet.cache('x' as never), /cache options must be an object/)
  await assertInvalidOption(() => fleet.cache({ namespace: 'a b' }), /cache: namespace/)
  await assertInvalidOption(
    () => fleet.cache({ modelVersion: 1.5 }),
    /cache: modelVersion must be an integer/,
  )
  await assertInvalidOption(
    () => fleet.cache({ tenant: 'acme' as never }),
    /cache: tenant must be a function/,
  )
  await assertInvalidOption(() => fleet.cache({ maxKeySize: 10 }), /cache: maxKeySize/)
  await assertInvalidOption(() => fleet.cache({ lockTimeout: -1 }), /cache: lockTimeout/)
  await assertInvalidOption(() => fleet.cache({ errorHandler: 1 as never }), /cache: errorHandler/)
  await assertInvalidOption(() => fleet.cache({ near: { max: 0 } }), /cache: near/)
  await assertInvalidOption(
    () => fleet.cache({ expiresIn: -5 }),
    /cache: expiresIn must be a positive number, got the number -5/,
  )
  await assertInvalidOption(() => fleet.cache({ raceConditionTtl: -1 }), /cache: raceConditionTtl/)
  await assertInvalidOption(() => fleet.tracker('x' as never), /tracker options must be an object/)
  await assertInvalidOption(() => fleet.tracker({ instanceId: '' }), /tracker: instanceId must not be empty/)
  await assertInvalidOption(
    () => fleet.tracker({ instanceId: 'i'.repeat(1025) }),
    /tracker: instanceId is 1025 bytes, more than the 1024 allowed/,
  )
  await assertInvalidOption(
    () => fleet.tracker({ heartbeatTtl: 0 }),
    /tracker: heartbeatTtl must be a positive integer, got the number 0/,
  )
  await assertInvalidOption(() => fleet.tracker({ heartbeatInterval: 1.5 }), /tracker: heartbeatInterval/)
  await assertInvalidOption(
    () => fleet.tracker({ heartbeatInterval: 500, heartbeatTtl: 500 }),
    /must be shorter than heartbeatTtl/,
  )
  await assertInvalidOption(
    () => fleet.tracker({ recoverEvery: -1, requeue: () => {} }),
    /tracker: recoverEvery must be a non-negative integer/,
  )
  await assertInvalidOption(
    () => fleet.tracker({ heartbeatInterval: 2 ** 31, heartbeatTtl: 2 ** 32 }),
    /tracker: heartbeatInterval must be at most 2147483647 ms/,
  )
  await assertInvalidOption(
    () => fleet.tracker({ recoverEvery: 2 ** 31, requeue: () => {} }),
    /tracker: recoverEvery must be at most 2147483647 ms/,
  )
  await assertInvalidOption(() => fleet.tracker({ recoverEvery: 100 }), /needs a requeue function/)
  await assertInvalidOption(
    () => fleet.tracker({ requeue: 'x' as never }),
    /tracker: requeue must be a function/,
  )
  await assertInvalidOption(
    () => fleet.tracker({ onError: 'x' as never }),
    /tracker: onError must be a function/,
  )
  const saved = process.env.REDFLEET_HEARTBEAT_TTL
  process.env.REDFLEET_HEARTBEAT_TTL = '15s'
  try {
    await assertInvalidOption(() => fleet.tracker(), /REDFLEET_HEARTBEAT_TTL must be a positive integer/)
  } finally {
    if (saved === undefined) delete process.env.REDFLEET_HEARTBEAT_TTL
    else process.env.REDFLEET_HEARTBEAT_TTL = saved
  }
})

test('a wrong type of argument or option says what it got (SPEC §1), naming the element of a list', async () => {
  await assertInvalidOption(
    () => fleet.tracker({ requeue: 'x' as never }),
    /tracker: requeue must be a function, got the string "x"$/,
  )
  await assertInvalidOption(
    () => fleet.tracker({ onError: 1 as never }),
    /onError must be a function, got the number 1$/,
  )
  await assertInvalidOption(() => fleet.membership({ onError: 1 } as never), /got the number 1$/)
  await assertInvalidOption(() => fleet.streams({ onError: 1 } as never), /got the number 1$/)
  const cache = fleet.cache()
  await assertInvalidArgument(
    () => cache.write('k', 1, { tags: 'x' as never }),
    /tags must be an array of non-empty strings, got the string "x"$/,
  )
  await assertInvalidArgument(
    () => cache.write('k', 1, { tags: ['a', ''] }),
    /but tags\[1\] is the string ""$/,
  )
  await assertInvalidArgument(
    () => fleet.membership().owner('k', 'a' as never),
    /members must be an array of ids, got the string "a"$/,
  )
  await assertInvalidArgument(
    () => fleet.streams().publish({}, 'a' as never),
    /channels must be an array of names, got the string "a"$/,
  )
  const store = fleet.store()
  await assertInvalidArgument(() => store.update('k', 5 as never), /fn must be a function, got the number 5$/)
  await assertInvalidArgument(() => store.setMany({} as never), /pairs, got an object$/)
  await assertInvalidArgument(
    () => store.setMany([['a', 1], 'ab'] as never),
    /but entries\[1\] is the string "ab"$/,
  )
  await assertInvalidArgument(() => store.setMany([['a', 1, 2]] as never), /but entries\[0\] has 3 elements$/)
  await assertInvalidArgument(
    () => purgeDeadLetters(fleet, 'orders:dead', { ids: 'x' as never }),
    /ids must be an array of entry ids, got the string "x"$/,
  )
})
