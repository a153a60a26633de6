/**
 * A damaged entry under a cache key (another program's write, a value cut short) is a miss of
 * that key alone, reported to `errorHandler` with the method and a SerializationError that
 * names the key and says the stored data is at fault (`stored: true`): docs/cache.md's
 * "a corrupt entry never escapes". Run on memory, standalone, sharded and cluster.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { type Cache, type Fleet, SerializationError } from '../../src/index.ts'
import { forEachTopology } from '../harness/topologies.ts'
import { type RawAccess, rawAccess, uniqueKey } from './cache-support.ts'

/** Stored texts that start like an entry and are not one. */
const DAMAGED = {
  'JSON cut short': '\u0000rf@{"a":',
  'unknown flags': '\u0000rfZ1',
  'unknown type tag': '\u0000rfH{"$rf":"zz","v":1}',
  'compressed body that is not deflate': '\u0000rfA!!!!',
}

type Failure = { method: string; exception: unknown }

forEachTopology('Cache: damaged entries', (env) => {
  let fleet: Fleet
  let raw: RawAccess
  before(async () => {
    fleet = await env.fleet()
    raw = await rawAccess(env.topology)
  })
  after(() => raw.close())

  function setup(near = false): {
    cache: Cache
    failures: Failure[]
    damage(key: string, text: string | Buffer): Promise<void>
    ns: string
  } {
    const failures: Failure[] = []
    const ns = uniqueKey('ns')
    const cache = fleet.cache({
      namespace: ns,
      errorHandler: ({ method, exception }) => void failures.push({ method, exception }),
      ...(near ? { near: { max: 100 } } : {}),
    })
    const damage = (key: string, text: string | Buffer) =>
      raw.set(`${env.namespace}:cache:${ns}:${key}`, text)
    return { cache, failures, damage, ns }
  }

  /** Each read of the entry reported once (a fetch's miss reads it again under its fill lock). */
  function assertReported(failures: Failure[], method: string, key: string, reads = 1): void {
    assert.equal(failures.length, reads, `${method}: ${failures.map((f) => String(f.exception)).join('; ')}`)
    for (const { method: reported, exception } of failures) {
      assert.equal(reported, method)
      assert.ok(exception instanceof SerializationError, String(exception))
      assert.equal(exception.stored, true, 'the stored data is at fault, not the caller')
      assert.match(exception.message, new RegExp(`cache\\.${method} '${key}'`))
    }
    failures.length = 0
  }

  for (const [what, text] of Object.entries(DAMAGED)) {
    test(`${what}: read, exist and readMulti miss that key only; fetch computes and repairs it`, async () => {
      const { cache, failures, damage } = setup()
      await cache.write('good', 1)
      await damage('bad', text)

      assert.equal(await cache.read('bad'), undefined)
      assertReported(failures, 'read', 'bad')
      assert.equal(await cache.exist('bad'), false, 'exist reads the entry as read does')
      assertReported(failures, 'exist', 'bad')
      assert.deepEqual(await cache.readMulti(['good', 'bad']), new Map([['good', 1]]))
      assertReported(failures, 'readMulti', 'bad')

      assert.equal(await cache.fetch('bad', () => 'computed'), 'computed')
      assertReported(failures, 'fetch', 'bad', 2)
      assert.equal(await cache.read('bad'), 'computed', 'the fill replaced the damaged entry')
      assert.deepEqual(failures, [])
    })
  }

  test('a write with unlessExist (write, fetch, writeMulti) replaces a damaged entry, a miss to it too, and reports it', async () => {
    const { cache, failures, damage } = setup()
    for (const [i, text] of Object.values(DAMAGED).entries()) {
      await damage(`w${i}`, text)
      assert.equal(await cache.write(`w${i}`, 'written', { unlessExist: true }), true)
      assertReported(failures, 'write', `w${i}`)
      assert.equal(await cache.read(`w${i}`), 'written')
      // A live value is one: the write leaves it.
      assert.equal(await cache.write(`w${i}`, 'again', { unlessExist: true }), false)
      assert.equal(await cache.read(`w${i}`), 'written')

      await damage(`f${i}`, text)
      assert.equal(await cache.fetch(`f${i}`, { unlessExist: true }, () => 'fetched'), 'fetched')
      // Read by the fetch, again under its fill lock, and by its write.
      assertReported(failures, 'fetch', `f${i}`, 3)
      assert.equal(await cache.read(`f${i}`), 'fetched')

      await damage(`m${i}`, text)
      await cache.writeMulti({ [`m${i}`]: 'multi' }, { unlessExist: true })
      assertReported(failures, 'writeMulti', `m${i}`)
      assert.equal(await cache.read(`m${i}`), 'multi')
    }
    assert.deepEqual(failures, [])
  })

  test('a write with unlessExist replaces an entry cut short inside a character (its text is not its bytes)', async (t) => {
    // Memory keeps JS strings: it cannot hold bytes cut inside a character, which is this case.
    if (env.topology === 'memory') return t.skip('memory keeps text, not bytes')
    const { cache, failures, damage, ns } = setup()
    await cache.write('whole', 'é')
    const whole = await raw.get(`${env.namespace}:cache:${ns}:whole`)
    assert.ok(whole)
    // The last two bytes cut off: a lone lead byte of 'é' (0xC3) ends it, read as U+FFFD.
    const cut = whole.subarray(0, whole.length - 2)
    const calls: [string, (key: string) => Promise<unknown>][] = [
      ['write', (key) => cache.write(key, 'new', { unlessExist: true })],
      ['fetch', (key) => cache.fetch(key, { unlessExist: true }, () => 'new')],
      ['writeMulti', (key) => cache.writeMulti({ [key]: 'new' }, { unlessExist: true })],
    ]
    for (const [method, call] of calls) {
      await damage(method, cut)
      await call(method)
      assert.equal(failures.length > 0, true, `${method} reported the damaged entry`)
      failures.length = 0
      assert.equal(await cache.read(method), 'new', `${method} replaced it`)
    }
    assert.deepEqual(failures, [])
  })

  test('a damaged entry of another version than the one asked for is reported by readMulti as by read', async () => {
    const { cache, failures, damage } = setup()
    // Flags '@' + 4 (has a version): version "v", then JSON cut short.
    await damage('bad', '\u0000rfD1:v{"a":')
    await cache.write('good', 1, { version: 'w' })
    assert.equal(await cache.read('bad', { version: 'w' }), undefined)
    assertReported(failures, 'read', 'bad')
    assert.deepEqual(await cache.readMulti(['good', 'bad'], { version: 'w' }), new Map([['good', 1]]))
    assertReported(failures, 'readMulti', 'bad')
  })

  test('a damaged entry whose tag was invalidated is reported by readMulti and fetchMulti as by read', async () => {
    const { cache, failures, damage, ns } = setup()
    await cache.write('tagged', { a: 1 }, { tags: ['t'] })
    const stored = await raw.get(`${env.namespace}:cache:${ns}:tagged`)
    assert.ok(stored)
    // The header (and its tag) intact, the JSON cut short.
    await damage('tagged', stored.toString('utf8').slice(0, -2))
    await cache.invalidateTag('t')
    assert.equal(await cache.read('tagged'), undefined)
    assertReported(failures, 'read', 'tagged')
    assert.deepEqual(await cache.readMulti(['tagged']), new Map())
    assertReported(failures, 'readMulti', 'tagged')
    assert.deepEqual(
      await cache.fetchMulti(['tagged'], {}, () => 'computed'),
      new Map([['tagged', 'computed']]),
    )
    assertReported(failures, 'fetchMulti', 'tagged')
  })

  test('a key holding another type (a stream): read, exist, readCounter, increment and fetch miss and report WRONGTYPE; the stream is kept', async () => {
    const ns = uniqueKey('ns')
    const failures: Failure[] = []
    const cache = fleet.cache({
      namespace: ns,
      errorHandler: ({ method, exception }) => void failures.push({ method, exception }),
    })
    const key = 'typed'
    await raw.stream(`${env.namespace}:cache:${ns}:${key}`)
    assert.equal(await cache.read(key), undefined)
    assert.equal(await cache.exist(key), false)
    assert.equal(await cache.readCounter(key), undefined)
    assert.equal(await cache.increment(key), undefined)
    assert.equal(await cache.fetch(key, {}), undefined)
    assert.deepEqual(
      failures.map(({ method, exception }) => [method, /WRONGTYPE/.test(String(exception))]),
      [
        ['read', true],
        ['exist', true],
        ['readCounter', true],
        ['increment', true],
        // A fetch without a compute is a read, reported as the method the caller called.
        ['fetch', true],
      ],
    )
    assert.equal(await raw.isStream(`${env.namespace}:cache:${ns}:${key}`), true, 'the stream is kept')
  })

  test('with a near cache, a damaged entry is not kept: every read reports it', async () => {
    const { cache, failures, damage } = setup(true)
    await damage('bad', DAMAGED['JSON cut short'])
    assert.equal(await cache.read('bad'), undefined)
    assertReported(failures, 'read', 'bad')
    assert.equal(await cache.read('bad'), undefined)
    assertReported(failures, 'read', 'bad')
  })
})
