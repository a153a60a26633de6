/**
 * Every factory refuses an option it does not know (a misspelt name would otherwise be ignored
 * and its default used in silence) with ConfigError ERR_UNKNOWN_OPTION naming it and the nearest
 * known name, and a value of the wrong type with ERR_INVALID_OPTION; the options each takes
 * (SPEC §1–§7) are accepted.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { ConfigError, createFleet } from '../../src/index.ts'

const fleet = createFleet({ namespace: 'factory-options' })
after(() => fleet.close())

function refused(make: () => unknown, code: string, message: RegExp): void {
  assert.throws(make, (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error))
    assert.equal(error.code, code)
    assert.match(error.message, message)
    return true
  })
}

// Options typed loosely on purpose: these are the mistakes a JavaScript caller can make.
const loose = (o: Record<string, unknown>) => o as never

test('a misspelt option is refused by every factory, naming the nearest known one', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => fleet.cache(loose({ expireIn: 5 })), /"expireIn" \(did you mean "expiresIn"\?\)/],
    [() => fleet.broker(loose({ chanel: 'x' })), /"chanel" \(did you mean "channel"\?\)/],
    [() => fleet.presence(loose({ onEror: () => {} })), /"onEror" \(did you mean "onError"\?\)/],
    [() => fleet.streams(loose({ eventMaxLen: 10 })), /"eventMaxLen" \(did you mean "eventsMaxLen"\?\)/],
    [() => fleet.membership(loose({ tll: 100 })), /"tll" \(did you mean "ttl"\?\)/],
    [() => fleet.tracker(loose({ heartbeatTTL: 100 })), /"heartbeatTTL" \(did you mean "heartbeatTtl"\?\)/],
    [() => fleet.store(loose({ prefx: 'p' })), /"prefx" \(did you mean "prefix"\?\)/],
  ]
  for (const [make, message] of cases) refused(make, 'ERR_UNKNOWN_OPTION', message)
  refused(() => fleet.presence(loose({ foo: 1 })), 'ERR_UNKNOWN_OPTION', /"foo" \(known: onError\)/)
})

test('options are own properties: an object that inherits one is refused, not obeyed in silence', () => {
  // Object.create(defaults): the inherited url was used, and an inherited misspelt name passed.
  refused(
    () => createFleet(Object.create({ url: 'redis://127.0.0.1:1' })),
    'ERR_INVALID_OPTION',
    /createFleet options must be an object's own properties, got an object that inherits "url"/,
  )
  refused(
    () => fleet.store(Object.create({ prefix: 'p' })),
    'ERR_INVALID_OPTION',
    /store options must be an object's own properties, got an object that inherits "prefix"/,
  )
  refused(
    () => createFleet({ memory: true, retry: Object.create({ atempts: 1 }) }),
    'ERR_INVALID_OPTION',
    /retry must be an object's own properties, got an object that inherits "atempts"/,
  )
  class WithPrefix {
    get prefix(): string {
      return 'p'
    }
  }
  refused(
    () => fleet.store(new WithPrefix() as never),
    'ERR_INVALID_OPTION',
    /store options must be an object's own properties, got an object that inherits "prefix"/,
  )
  // A class instance's fields are its options; its methods are no option's name.
  class Settings {
    prefix = 'p'
    describe(): string {
      return this.prefix
    }
  }
  fleet.store(new Settings() as never)
})

test('a value of the wrong type is refused, naming the option and what it got', () => {
  refused(
    () => fleet.cache(loose({ compress: 'yes' })),
    'ERR_INVALID_OPTION',
    /compress must be true or false, got the string "yes"/,
  )
  refused(() => fleet.cache(loose({ skipNil: 1 })), 'ERR_INVALID_OPTION', /skipNil must be true or false/)
  refused(() => fleet.cache(loose({ retry: { attempts: 0 } })), 'ERR_INVALID_OPTION', /retry\.attempts/)
  refused(() => fleet.streams(loose({ retry: { jitter: 2 } })), 'ERR_INVALID_OPTION', /retry\.jitter/)
  refused(() => fleet.membership(loose({ retry: 'often' })), 'ERR_INVALID_OPTION', /retry must be an object/)
  refused(() => fleet.tracker(loose({ retry: { attemps: 2 } })), 'ERR_UNKNOWN_OPTION', /"retry\.attemps"/)
  refused(() => fleet.streams(loose({ waitFor: { replica: 1 } })), 'ERR_UNKNOWN_OPTION', /"waitFor\.replica"/)
  for (const make of [() => fleet.broker(loose([] as never)), () => fleet.streams(null as never)]) {
    refused(make, 'ERR_INVALID_OPTION', /options must be an object/)
  }
  refused(() => fleet.cache(loose(new Map([['namespace', 'x']]) as never)), 'ERR_INVALID_OPTION', /got a Map/)
  refused(
    () => fleet.cache(loose({ retry: new Map() })),
    'ERR_INVALID_OPTION',
    /retry must be an object, got a Map/,
  )
})

test('the options each factory takes are accepted', () => {
  const retry = { attempts: 2, base: 10, factor: 2, max: 100, jitter: 0.5 }
  const onError = () => {}
  fleet.cache({
    namespace: 'n',
    expiresIn: 1000,
    raceConditionTtl: 10,
    skipNil: true,
    compress: false,
    compressThreshold: 10,
    maxKeySize: false,
    modelVersion: 2,
    tenant: () => 't',
    near: false,
    lockTimeout: 0,
    errorHandler: () => {},
    raw: false,
    retry,
  })
  fleet.broker({ channel: 'c', onError })
  fleet.presence({ onError })
  fleet.streams({
    eventsMaxLen: 10,
    channelMaxLen: 5,
    maxBlockingConnections: 2,
    onError,
    waitFor: { replicas: 0 },
    retry,
  })
  fleet.membership({ ttl: 300, onError, retry })
  fleet.tracker({
    instanceId: 'i',
    heartbeatInterval: 10,
    heartbeatTtl: 30,
    recoveryLockTtl: 100,
    recoverEvery: 0,
    requeue: () => {},
    onError,
    retry,
  })
})

test('tracker: an environment variable set to nothing counts as unset', async () => {
  const { resolveTrackerOptions } = await import('../../src/tracker/options.ts')
  const blank = { REDFLEET_INSTANCE_ID: '', REDFLEET_HEARTBEAT_TTL: ' ', REDFLEET_HEARTBEAT_INTERVAL: '' }
  const resolved = resolveTrackerOptions({}, blank)
  assert.match(resolved.instanceId, /^[0-9a-f]{16}$/, 'a random id, as with no variable')
  assert.equal(resolved.heartbeatTtl, resolveTrackerOptions({}, {}).heartbeatTtl)
  assert.equal(resolveTrackerOptions({}, { REDFLEET_INSTANCE_ID: 'w-1' }).instanceId, 'w-1')
  assert.equal(
    resolveTrackerOptions({ instanceId: 'opt' }, { REDFLEET_INSTANCE_ID: 'w-1' }).instanceId,
    'opt',
  )
})
