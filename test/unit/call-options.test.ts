/**
 * A call's own options (SPEC §2–§7): a mistyped name or a yes/no option given as a string is a
 * TypeError naming it, before anything is done; it was ignored, and the call made without it
 * (`{ tll: 5 }` wrote a value that never expires, `{ unlessExist: 'yes' }` overwrote).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runInNewContext } from 'node:vm'
import { createFleet } from '../../src/index.ts'

function refused(what: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof TypeError, String(error))
    assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARGUMENT')
    assert.match((error as Error).message, what)
    return true
  }
}

test('store writes: an unknown option name is refused, naming the nearest one, and nothing is written', async () => {
  const fleet = createFleet({ memory: true })
  const store = fleet.store()
  await store.set('kept', 1)
  const typo = { tll: 5 } as never
  await assert.rejects(
    store.set('k', 1, typo),
    refused(/store\.set: unknown option "tll" \(did you mean "ttl"\?\)/),
  )
  await assert.rejects(
    store.setIfNotExists('k', 1, typo),
    refused(/store\.setIfNotExists: unknown option "tll"/),
  )
  await assert.rejects(store.increment('n', 1, typo), refused(/store\.increment: unknown option "tll"/))
  await assert.rejects(
    store.update('kept', () => 2, { waitfor: {} } as never),
    refused(/did you mean "waitFor"/),
  )
  await assert.rejects(store.setMany([['k', 1]], typo), refused(/store\.setMany: unknown option "tll"/))
  await assert.rejects(store.set('k', 1, 'x' as never), refused(/store\.set: options must be an object/))
  // A Map's entries are not its properties: read as options, its ttl was dropped and the key kept forever.
  await assert.rejects(
    store.set('k', 1, new Map([['ttl', 5]]) as never),
    refused(/store\.set: options must be an object, got a Map/),
  )
  await assert.rejects(store.set('k', 1, new Date() as never), refused(/got a Date/))
  await assert.rejects(store.set('k', 1, new Proxy(new Map([['ttl', 5]]), {}) as never), refused(/got a Map/))
  // A Proxy of a plain object (Vue's reactive({ ttl })) is read as the object.
  await store.set('proxied', 1, new Proxy({ ttl: 60_000 }, {}))
  assert.equal(await store.get('proxied'), 1)
  assert.deepEqual(await store.getMany(['k', 'n', 'kept']), [undefined, undefined, 1])
  await fleet.close()
})

test('options given as a class instance, tagged or not, or a module namespace are read by their properties', async () => {
  class KeepFirst {
    unlessExist = true
  }
  class TaggedKeepFirst extends KeepFirst {
    get [Symbol.toStringTag]() {
      return 'TaggedKeepFirst'
    }
  }
  const fleet = createFleet({ memory: true })
  const cache = fleet.cache()
  await cache.write('k', 'first')
  assert.equal(await cache.write('k', 'second', new KeepFirst()), false)
  assert.equal(await cache.write('k', 'third', new TaggedKeepFirst()), false)
  assert.equal(await cache.read('k'), 'first')
  // An ES module's namespace object: null prototype, tagged 'Module'.
  const moduleUrl = 'data:text/javascript,export const ttl = 60000'
  const asModule = (await import(moduleUrl)) as { ttl: number }
  await fleet.store().set('m', 1, asModule)
  assert.equal(await fleet.store().get('m'), 1)
  // A Map of another realm is a Map all the same.
  await assert.rejects(
    fleet.store().set('m', 2, runInNewContext("new Map([['ttl', 5]])")),
    refused(/options must be an object, got a Map/),
  )
  await fleet.close()
})

test('cache calls: unknown names and non-boolean yes/no options are refused; nothing is overwritten', async () => {
  const fleet = createFleet({ memory: true })
  const cache = fleet.cache()
  await cache.write('k', 'first')
  await assert.rejects(
    cache.write('k', 'second', { unlessExist: 'yes' } as never),
    refused(/unlessExist must be a boolean/),
  )
  await assert.rejects(
    cache.write('k', 'second', { expires_in: 5 } as never),
    refused(/cache\.write: unknown option "expires_in"/),
  )
  await assert.rejects(
    cache.fetch('k', { force: 'yes' } as never, () => 'second'),
    refused(/force must be a boolean/),
  )
  await assert.rejects(
    cache.read('k', { verison: '1' } as never),
    refused(/cache\.read: unknown option "verison" \(did you mean "version"\?\)/),
  )
  await assert.rejects(
    cache.read('k', { raw: 'yes' } as never),
    refused(/cache\.read: raw must be a boolean/),
  )
  await assert.rejects(
    cache.exist('k', { raw: true } as never),
    refused(/cache\.exist: unknown option "raw"/),
  )
  await assert.rejects(
    cache.readMulti(['k'], { versions: 1 } as never),
    refused(/cache\.readMulti: unknown option/),
  )
  await assert.rejects(
    cache.increment('n', 1, { expiresin: 5 } as never),
    refused(/did you mean "expiresIn"/),
  )
  await assert.rejects(
    cache.writeCounter('n', 1, { ttl: 5 } as never),
    refused(/cache\.writeCounter: unknown option "ttl"/),
  )
  assert.equal(await cache.read('k'), 'first')
  // A compute's write options may be handed on to another write as they are.
  await cache.fetch('f', { expiresIn: 60_000 }, async (_, o) => {
    assert.equal(await cache.write('g', 1, o), true)
    // ...or spread: the expiry goes with the other options.
    o.expiresAt = Date.now() + 30_000
    const copy = { ...o }
    assert.equal(copy.expiresAt, o.expiresAt)
    assert.equal(copy.expiresIn, undefined, 'setting expiresAt cleared expiresIn')
    assert.equal(await cache.write('h', 1, copy), true)
    return 1
  })
  await fleet.close()
})

test('options that inherit a name (Object.create({ ttl })) are refused, and nothing is written', async () => {
  const fleet = createFleet({ memory: true })
  const store = fleet.store()
  const cache = fleet.cache({ near: { max: 10 } })
  await store.set('kept', 1)
  await cache.write('k', 'first', { version: 'v1' })
  // Read by the call, the inherited ttl expired the key; the inherited typo passed the name check.
  await assert.rejects(
    store.set('kept', 2, Object.create({ ttl: 50 })),
    refused(/store\.set: options must be an object's own properties, got an object that inherits "ttl"/),
  )
  await assert.rejects(store.set('kept', 2, Object.create({ tll: 5 })), refused(/inherits "tll"/))
  // A class's getter, or a property defined on a prototype not enumerable, is read all the same.
  class Expiring {
    get ttl(): number {
      return 50
    }
  }
  await assert.rejects(store.set('kept', 2, new Expiring()), refused(/inherits "ttl"/))
  const hidden = Object.create(Object.defineProperty({}, 'ttl', { value: 50, enumerable: false }))
  await assert.rejects(store.set('kept', 2, hidden), refused(/inherits "ttl"/))
  class KeepFirst {
    get unlessExist(): boolean {
      return true
    }
  }
  await assert.rejects(
    cache.write('k', 'second', new KeepFirst() as never),
    refused(/inherits "unlessExist"/),
  )
  await assert.rejects(
    cache.write('k', 'second', Object.create({ unlessExist: true })),
    refused(/cache\.write: options must be an object's own properties/),
  )
  // A read the near cache could answer by itself is refused as well.
  assert.equal(await cache.read('k', { version: 'v1' }), 'first')
  await assert.rejects(
    cache.read('k', Object.create({ version: 'v1' })),
    refused(/cache\.read: .* inherits "version"/),
  )
  await assert.rejects(cache.exist('k', Object.create({ version: 'v1' })), refused(/inherits "version"/))
  await assert.rejects(
    cache.readMulti(['k'], Object.create({ version: 'v1' })),
    refused(/inherits "version"/),
  )
  assert.equal(await store.get('kept'), 1)
  assert.equal(await cache.read('k', { version: 'v1' }), 'first')
  await fleet.close()
})

test('null options are refused by cache reads as by every other call', async () => {
  const fleet = createFleet({ memory: true })
  const cache = fleet.cache({ near: { max: 10 } })
  await cache.write('k', 'first')
  assert.equal(await cache.read('k'), 'first')
  for (const call of [
    () => cache.read('k', null as never),
    () => cache.exist('k', null as never),
    () => cache.readMulti(['k'], null as never),
    () => cache.write('k', 'second', null as never),
  ]) {
    await assert.rejects(call(), refused(/options must be an object, got null/))
  }
  assert.equal(await cache.read('k'), 'first')
  await fleet.close()
})

test('streams, membership, presence and tracker calls refuse unknown option names', async () => {
  const fleet = createFleet({ memory: true })
  const streams = fleet.streams()
  await assert.rejects(
    streams.publish({ a: 1 }, [], { waitfor: {} } as never),
    refused(/did you mean "waitFor"/),
  )
  await assert.rejects(
    streams.consume('g', 'c', () => {}, { bach: 5 } as never),
    refused(/streams\.consume: unknown option "bach" \(did you mean "batch"\?\)/),
  )
  await assert.rejects(
    streams.consume('g', 'c', () => {}, 'x' as never),
    refused(/options must be an object/),
  )
  await assert.rejects(
    streams.tail('ch', '0', () => {}, { sginal: 1 } as never),
    refused(/did you mean "signal"/),
  )
  const membership = fleet.membership()
  assert.throws(() => membership.join('m', { intervl: 5 } as never), refused(/did you mean "interval"/))
  assert.throws(() => membership.inbox('m', { form: '0' } as never), refused(/did you mean "from"/))
  await assert.rejects(
    fleet.presence().subscribe('room', () => {}, { sginal: 1 } as never),
    refused(/presence\.subscribe: unknown option "sginal"/),
  )
  const tracker = fleet.tracker()
  await assert.rejects(tracker.stop({ releaseJob: true } as never), refused(/did you mean "releaseJobs"/))
  await assert.rejects(
    tracker.stop({ releaseJobs: 'yes' } as never),
    refused(/releaseJobs must be a boolean/),
  )
  await fleet.close()
})
