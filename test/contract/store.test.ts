import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DurabilityError } from '../../src/errors.ts'
import {
  ClosedError,
  CommandError,
  ConfigError,
  createFleet,
  failsafe,
  SerializationError,
} from '../../src/index.ts'
import { runWorker } from '../harness/processes.ts'
import { forEachTopology, topologyOptions, uniqueNamespace } from '../harness/topologies.ts'
import { unreadableValues } from '../harness/unreadable.ts'
import { rawAccess } from './cache-support.ts'

/** TTL of the expiry tests, in ms: short, so that a test waits little for an expiry. */
const TTL = 150

/** Polls `probe` every 20 ms until it is truthy; fails after 100 TTLs (a loaded machine is slow). */
async function until(what: string, probe: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 100 * TTL
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${100 * TTL} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Runs a check that holds only while a TTL started at `since` has not run out; skips it when the
 * machine was too slow to get there in time (the expiry itself is checked with `until`).
 */
async function whileFresh(since: number, ttl: number, check: () => Promise<void>): Promise<void> {
  try {
    await check()
  } catch (error) {
    if (Date.now() - since < ttl) throw error
  }
}

forEachTopology('Store contract', (env) => {
  test('get of a missing key is undefined; set then get round-trips', async () => {
    const store = (await env.fleet()).store()
    assert.equal(await store.get('missing'), undefined)
    await store.set('k', { a: 1 })
    assert.deepEqual(await store.get('k'), { a: 1 })
  })

  test('JSON values round-trip exactly: unicode, nested, null, booleans, numbers (-0 too), arrays', async () => {
    const store = (await env.fleet()).store()
    const values: unknown[] = [
      'héllo wörld ✓ 日本語 🚀',
      { nested: { deep: [1, { x: null }, 'two'] }, flag: true },
      null,
      false,
      true,
      0,
      -12.5,
      Number.MAX_SAFE_INTEGER,
      [],
      {},
      '',
      -0,
      { zero: -0, list: [0, -0] },
    ]
    for (const [i, value] of values.entries()) {
      await store.set(`v${i}`, value)
      assert.deepEqual(await store.get(`v${i}`), value, `value #${i}`)
    }
  })

  test('a key or prefix with a lone surrogate is refused: Redis would store U+FFFD, one key for all', async () => {
    const fleet = await env.fleet()
    const store = fleet.store()
    await store.set('\uFFFD', 'kept')
    for (const key of ['\uD800', 'a\uDC00', '\uDBFF']) {
      await assert.rejects(store.set(key, 1), { name: 'TypeError', code: 'ERR_INVALID_KEY' })
      await assert.rejects(store.get(key), { name: 'TypeError', code: 'ERR_INVALID_KEY' })
    }
    assert.equal(await store.get('\uFFFD'), 'kept')
    assert.throws(() => fleet.store({ prefix: 'p\uD800' }), { code: 'ERR_INVALID_OPTION' })
    assert.throws(() => fleet.withNamespace('n\uDC00'), { code: 'ERR_INVALID_OPTION' })
    // In a value it is JSON's \ud800 escape, and comes back as it was.
    await store.set('lone', 'a\uD800b')
    assert.equal(await store.get('lone'), 'a\uD800b')
  })

  test('a hole in a key list is a missing key: getMany and setMany refuse it on every topology, writing nothing', async () => {
    const store = (await env.fleet()).store<number>()
    await store.set('a', 1)
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    const holed = ['a', , 'a'] as string[]
    await assert.rejects(store.getMany(holed), {
      name: 'TypeError',
      code: 'ERR_INVALID_KEY',
      message: /store\.getMany/,
    })
    await assert.rejects(store.getMany(new Array(2)), { name: 'TypeError', code: 'ERR_INVALID_KEY' })
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    const holedPairs = [['a', 2], , ['b', 3]] as [string, number][]
    await assert.rejects(store.setMany(holedPairs), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARGUMENT',
      message: /store\.setMany/,
    })
    assert.deepEqual(await store.getMany(['a', 'b']), [1, undefined], 'nothing written')
  })

  test('values JSON cannot represent are rejected with SerializationError and nothing is written', async () => {
    const store = (await env.fleet()).store<unknown>()
    await store.set('keep', 'original')
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const bad of [undefined, () => 1, 10n, cyclic, { nested: () => 1 }, Number.NaN, { n: Infinity }]) {
      await assert.rejects(store.set('keep', bad), SerializationError)
      await assert.rejects(store.setIfNotExists('fresh', bad), SerializationError)
    }
    assert.equal(await store.get('keep'), 'original')
    assert.equal(await store.get('fresh'), undefined)
  })

  test('values that would not come back equal are rejected naming where they are', async () => {
    const store = (await env.fleet()).store<unknown>()
    class Point {
      constructor(readonly x: number) {}
    }
    class List extends Array<number> {}
    const cases: [unknown, RegExp][] = [
      [{ items: [1, 2, new Map()] }, /value\.items\[2\] is a Map/],
      [new Set([1]), /value is a Set/],
      [{ later: Promise.resolve(1) }, /value\.later is a Promise/],
      [[new Point(1)], /value\[0\] is a Point/],
      // It would come back a plain array.
      [{ list: List.from([1]) }, /value\.list is a List/],
      [{ at: new Date(0) }, /value\.at is a Date/],
      [{ 'odd key': new Uint8Array(2) }, /value\["odd key"\] is a Uint8Array/],
      [[undefined, 1], /value\[0\] is undefined/],
      [{ n: 10n }, /value\.n is a BigInt/],
      [{ f: Symbol('s') }, /value\.f is a symbol/],
      // biome-ignore lint/suspicious/noSparseArray: JSON would write the hole as null
      [[1, , 3], /value\[1\] is undefined/],
    ]
    for (const [bad, where] of cases) {
      await assert.rejects(store.set('strict', bad), (error: Error) => {
        assert.ok(error instanceof SerializationError, String(error))
        assert.match(error.message, where)
        assert.match(error.message, /store\.set 'strict'/)
        return true
      })
    }
    const cyclic: { list: unknown[] } = { list: [] }
    cyclic.list.push(cyclic)
    await assert.rejects(store.set('strict', cyclic), /value\.list\[0\] is a cycle/)
    assert.equal(await store.get('strict'), undefined, 'nothing was written')
    // An instance with its own toJSON is the caller's choice; an undefined property is left out.
    class Money {
      constructor(readonly cents: number) {}
      toJSON() {
        return { cents: this.cents }
      }
    }
    await store.set('money', { price: new Money(5), note: undefined, proto: Object.create(null) })
    assert.deepEqual(await store.get('money'), { price: { cents: 5 }, proto: {} })
  })

  test('a value whose getter or Proxy trap throws as it is read is a SerializationError; nothing is written', async () => {
    const fleet = await env.fleet()
    const store = fleet.store<unknown>({ prefix: 'reading:' })
    await store.set('kept', 'original')
    const expected = {
      name: 'SerializationError',
      code: 'ERR_SERIALIZATION',
      message: /reading the value threw/,
    }
    for (const bad of unreadableValues()) {
      await assert.rejects(store.set('kept', bad), expected)
      await assert.rejects(store.setMany([['kept', bad]]), expected)
      await assert.rejects(
        store.update('kept', () => bad),
        expected,
      )
    }
    assert.equal(await store.get('kept'), 'original')
  })

  test('a codec replaces JSON (keeping Dates); a malformed codec is a ConfigError', async () => {
    const fleet = await env.fleet()
    const dates = fleet.store<{ at: Date; name?: string }>({
      prefix: 'dated:',
      codec: {
        encode: (value) =>
          JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
            return this[key] instanceof Date ? { $date: v } : v
          }),
        decode: (text) => JSON.parse(text, (_key, v) => (v?.$date === undefined ? v : new Date(v.$date))),
      },
    })
    const at = new Date('2024-01-02T03:04:05.000Z')
    await dates.set('d', { at, name: 'launch' })
    assert.deepEqual(await dates.get('d'), { at, name: 'launch' })
    assert.deepEqual(await dates.update('d', (cur) => ({ at: new Date(cur!.at.getTime() + 1000) })), {
      at: new Date(at.getTime() + 1000),
    })
    const failing = fleet.store({
      prefix: 'failing:',
      codec: { encode: () => 42 as unknown as string, decode: JSON.parse },
    })
    await assert.rejects(failing.set('x', 1), SerializationError)
    // Redis would keep U+FFFD for a lone surrogate (memory would not): refused on every topology.
    const texts = fleet.store<string>({ prefix: 'texts:', codec: { encode: String, decode: (text) => text } })
    await texts.set('t', 'kept')
    const half = '\u{1F600} hello'.slice(1)
    const lone = {
      name: 'SerializationError',
      message: /the text codec.encode returned holds a lone surrogate/,
    }
    await assert.rejects(texts.set('t', half), lone)
    await assert.rejects(
      texts.update('t', () => half),
      lone,
    )
    await assert.rejects(
      texts.setMany([
        ['u', 'fine'],
        ['t', half],
      ]),
      lone,
    )
    assert.equal(await texts.get('t'), 'kept', 'nothing stored changed')
    assert.equal(await texts.get('u'), undefined, 'a refused setMany writes none of its keys')
    assert.throws(() => fleet.store({ codec: { encode: JSON.stringify } as never }), ConfigError)
    assert.throws(() => fleet.store({ codec: 'json' as never }), /codec must be an object/)
  })

  test('update awaits an async fn and stores what it resolves to', async () => {
    const store = (await env.fleet()).store<{ n: number }>()
    assert.deepEqual(await store.update('async', async () => ({ n: 2 })), { n: 2 })
    assert.deepEqual(await store.get('async'), { n: 2 })
    const next = await store.update('async', async (cur) => {
      await new Promise((resolve) => setImmediate(resolve))
      return { n: cur!.n + 1 }
    })
    assert.deepEqual(next, { n: 3 })
    assert.deepEqual(await store.get('async'), { n: 3 })
  })

  test("update: fn's own error is rethrown as thrown, once, even one that looks like a lost connection", async () => {
    const fleet = await env.fleet()
    const store = fleet.store<number>()
    const errors: unknown[] = []
    const safe = failsafe(store, { onError: (error) => errors.push(error) })
    await store.set('own-error', 1)
    // What the fn's own HTTP call or socket write throws (helper-299: told as Redis unreachable,
    // its fn run three times, and swallowed by failsafe).
    for (const thrown of [
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' }),
    ]) {
      for (const target of [store, safe]) {
        let runs = 0
        const call = target.update('own-error', () => {
          runs++
          throw thrown
        })
        await assert.rejects(call, (error) => error === thrown)
        assert.equal(runs, 1, thrown.message)
      }
    }
    assert.deepEqual(errors, [], 'not an outage')
    assert.equal(await store.get('own-error'), 1)
  })

  test('calls on one key apply in call order, awaited or not, before and after connecting, with a pool', async () => {
    for (const [connected, size] of [
      [false, 1],
      [true, 1],
      [false, 3],
      [true, 3],
    ] as const) {
      // A pool of several connections per node: a key's calls must still keep their order.
      const fleet = await env.fleet({ pool: { size } })
      const store = fleet.store<number>({ prefix: `order-${connected}-${size}:` })
      if (connected) await store.get('warm-up')
      const model = new Map<string, number>()
      const checks: Promise<void>[] = []
      const expect = (i: number, op: string, call: Promise<unknown>, expected: unknown) =>
        checks.push(call.then((actual) => assert.deepEqual(actual, expected, `call #${i} ${op}`)))
      let seed = 7
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n
      }
      const keys = ['a', 'b', '{t}c', '{t}d']
      for (let i = 0; i < 400; i++) {
        const key = keys[random(keys.length)]!
        const current = model.get(key)
        switch (random(9)) {
          case 0:
            expect(i, 'set', store.set(key, i), undefined)
            model.set(key, i)
            break
          case 1:
            expect(i, 'get', store.get(key), current)
            break
          case 2:
            expect(i, 'delete', store.delete(key), current !== undefined)
            model.delete(key)
            break
          case 3:
            expect(i, 'increment', store.increment(key, 2), (current ?? 0) + 2)
            model.set(key, (current ?? 0) + 2)
            break
          case 4:
            expect(i, 'setIfNotExists', store.setIfNotExists(key, i), current === undefined)
            if (current === undefined) model.set(key, i)
            break
          case 5:
            expect(
              i,
              'update',
              store.update(key, async (c) => (c ?? 0) * 2 + 1),
              (current ?? 0) * 2 + 1,
            )
            model.set(key, (current ?? 0) * 2 + 1)
            break
          case 6:
            expect(
              i,
              'getMany',
              store.getMany(keys),
              keys.map((k) => model.get(k)),
            )
            break
          case 7: {
            const other = keys[random(keys.length)]!
            expect(
              i,
              'setMany',
              store.setMany([
                [key, i],
                [other, -i],
              ]),
              undefined,
            )
            model.set(key, i)
            model.set(other, -i)
            break
          }
          default:
            expect(i, 'get', store.get(key), current)
        }
      }
      await Promise.all(checks)
      assert.deepEqual(
        await store.getMany(keys),
        keys.map((k) => model.get(k)),
      )
    }
  })

  test('call order holds across the store objects of one fleet', async () => {
    const fleet = await env.fleet()
    const store = () => fleet.store<number>({ prefix: 'shared-order:' })
    for (let round = 0; round < 10; round++) {
      const [, afterUpdate, , afterMany, many] = await Promise.all([
        store().update(`u${round}`, (n) => (n ?? 0) + 1),
        store().get(`u${round}`),
        store().setMany([
          [`a${round}`, 1],
          [`b${round}`, 2],
        ]),
        store().get(`b${round}`),
        store().getMany([`a${round}`, `b${round}`]),
      ])
      assert.deepEqual([afterUpdate, afterMany, many], [1, 2, [1, 2]], `round ${round}`)
    }
  })

  test('an update whose fn reads its key (through this or another store object) settles', async () => {
    const fleet = await env.fleet()
    const store = fleet.store<number>({ prefix: 'reentry:' })
    const other = fleet.store<number>({ prefix: 'reentry:' })
    await store.set('k', 1)
    const seen: (number | undefined)[] = []
    const updated = await store.update('k', async (n) => {
      seen.push(await store.get('k'), await other.get('k'), ...(await other.getMany(['k'])))
      return (n ?? 0) + 1
    })
    assert.equal(updated, 2)
    assert.deepEqual(seen, [1, 1, 1], 'the fn reads the value it is given')
    const [, after] = await Promise.all([store.update('k', (n) => (n ?? 0) + 1), other.get('k')])
    assert.equal(after, 3, 'a get made after the update still waits for it')
  })

  test('with a pool, setMany lands after the sets made right before it, on every connection', async () => {
    const store = (await env.fleet({ pool: { size: 3 } })).store<string>({ prefix: 'pooled-many:' })
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`)
    for (let round = 0; round < 10; round++) {
      await Promise.all([
        ...keys.map((key) => store.set(key, 'old')),
        store.setMany(keys.map((key) => [key, `new-${round}`])),
      ])
      assert.deepEqual(
        await store.getMany(keys),
        keys.map(() => `new-${round}`),
        `round ${round}`,
      )
    }
  })

  test('waitFor: memory ignores it; a Redis write waits for WAIT and reports the replicas reached', async () => {
    const fleet = await env.fleet()
    const store = fleet.store<number>({ waitFor: { replicas: 1, timeout: 20 } })
    const writes: [string, () => Promise<unknown>][] = [
      ['set', () => store.set('durable', 1)],
      [
        'setMany',
        () =>
          store.setMany([
            ['durable', 2],
            ['durable-2', 3],
          ]),
      ],
      ['setIfNotExists', () => store.setIfNotExists('durable-claim', 4)],
      ['increment', () => store.increment('durable-n')],
      ['update', () => store.update('durable', (n) => (n ?? 0) + 1)],
    ]
    for (const [op, write] of writes) {
      if (env.topology === 'memory') {
        await write()
        continue
      }
      // The test servers have no replicas: the write is applied, WAIT reaches 0 of 1.
      await assert.rejects(write(), (error: Error) => {
        assert.ok(error instanceof DurabilityError, `${op}: ${String(error)}`)
        assert.equal(error.replicas, 0)
        assert.equal(error.localAof, false)
        assert.deepEqual(error.wanted, { replicas: 1, timeout: 20 })
        return true
      })
    }
    assert.deepEqual(
      await store.getMany(['durable', 'durable-2', 'durable-claim', 'durable-n']),
      [3, 3, 4, 1],
    )
    // A lost claim wrote nothing, so there is nothing to wait for: it answers false.
    assert.equal(await store.setIfNotExists('durable-claim', 9), false)
    // A call's own waitFor overrides the store's: nothing to wait for.
    await store.set('durable', 5, { waitFor: {} })
    await assert.rejects(store.set('durable', 6, { waitFor: { replicas: -1 } }), TypeError)
    // A timeout of 0 is "for ever" to WAIT, which would hold the node's connection for good.
    await assert.rejects(store.set('durable', 6, { waitFor: { replicas: 1, timeout: 0 } }), TypeError)
    assert.throws(() => fleet.store({ waitFor: { timeout: 0 } }), ConfigError)
    // Past the longest delay a Node timer holds, as the fleet's own timeouts.
    await assert.rejects(store.set('durable', 6, { waitFor: { replicas: 1, timeout: 2 ** 31 } }), {
      code: 'ERR_INVALID_ARGUMENT',
    })
    assert.throws(() => fleet.store({ waitFor: { timeout: 2 ** 31 } }), { code: 'ERR_INVALID_OPTION' })
    assert.equal(await store.get('durable'), 5, 'a refused call wrote nothing')
    assert.throws(() => fleet.store({ waitFor: { replicas: 'one' as never } }), ConfigError)
  })

  test('keys must be non-empty strings of at most 1024 bytes', async () => {
    const store = (await env.fleet()).store()
    await assert.rejects(store.get(''), TypeError)
    await assert.rejects(store.get(42 as unknown as string), TypeError)
    await assert.rejects(store.set('x'.repeat(1025), 1), /1025 bytes/)
    await assert.rejects(store.set('é'.repeat(513), 1), TypeError) // 1026 bytes in UTF-8
    await store.set('x'.repeat(1024), 1)
    assert.equal(await store.get('x'.repeat(1024)), 1)
  })

  test('delete returns whether the key existed', async () => {
    const store = (await env.fleet()).store()
    await store.set('d', 1)
    assert.equal(await store.delete('d'), true)
    assert.equal(await store.delete('d'), false)
    assert.equal(await store.get('d'), undefined)
  })

  test('ttl expires entries; set without ttl clears an earlier expiry', async () => {
    const store = (await env.fleet()).store()
    const since = Date.now()
    await store.set('short', 'x', { ttl: TTL })
    await store.set('long', 'y', { ttl: TTL })
    await store.set('long', 'y')
    await whileFresh(since, TTL, async () => assert.equal(await store.get('short'), 'x'))
    await until('short expired', async () => (await store.get('short')) === undefined)
    assert.equal(await store.get('long'), 'y')
    await assert.rejects(store.set('bad', 1, { ttl: -5 }), TypeError)
    await assert.rejects(store.set('bad', 1, { ttl: 1.5 }), TypeError)
    // Past 2^53 - 1 Redis refuses the PX (where memory took it): refused alike, before anything is sent.
    for (const ttl of [2 ** 53, 1e20, Number.POSITIVE_INFINITY]) {
      await assert.rejects(store.set('long', 1, { ttl }), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
      await assert.rejects(store.increment('long-n', 1, { ttl }), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARGUMENT',
      })
    }
    assert.equal(await store.get('long'), 'y')
    await store.set('longest', 'z', { ttl: Number.MAX_SAFE_INTEGER })
    assert.equal(await store.get('longest'), 'z')
  })

  test('setIfNotExists: exactly one of 50 concurrent claimers wins, across fleets', async () => {
    const fleets = await Promise.all([env.fleet(), env.fleet()])
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fleets[i % 2]!.store().setIfNotExists('claim', `owner-${i}`, { ttl: 10_000 }),
      ),
    )
    assert.equal(results.filter(Boolean).length, 1)
    const winner = results.indexOf(true)
    assert.equal(await fleets[0]!.store().get('claim'), `owner-${winner}`)
  })

  test('claims and updates work whatever braces a key holds (their token shares its slot)', async () => {
    const store = (await env.fleet()).store<number>()
    for (const key of ['plain', '{tag}x', 'a}b', '{}c', 'd{e', 'f{}g}h', '}{i}']) {
      assert.equal(await store.setIfNotExists(`claim-${key}`, 1), true, key)
      assert.equal(await store.setIfNotExists(`claim-${key}`, 2), false, key)
      assert.equal(await store.update(`claim-${key}`, (n) => n! + 1), 2, key)
      assert.equal(await store.get(`claim-${key}`), 2, key)
    }
  })

  test('setIfNotExists ttl frees the claim', async () => {
    const store = (await env.fleet()).store()
    const since = Date.now()
    assert.equal(await store.setIfNotExists('lease', 1, { ttl: TTL }), true)
    await whileFresh(since, TTL, async () =>
      assert.equal(await store.setIfNotExists('lease', 2, { ttl: TTL }), false),
    )
    await until('the claim is free again', () => store.setIfNotExists('lease', 3))
    assert.equal(await store.get('lease'), 3)
  })

  test('increment starts from 0, adds by (default 1), negative and fractional steps', async () => {
    const store = (await env.fleet()).store()
    assert.equal(await store.increment('n'), 1)
    assert.equal(await store.increment('n', 5), 6)
    assert.equal(await store.increment('n', -10), -4)
    assert.equal(await store.get('n'), -4)
    assert.equal(await store.increment('f', 1.5), 1.5)
    assert.equal(await store.increment('f', 1), 2.5)
    await store.set('text', 'abc')
    await assert.rejects(store.increment('text'), /not a valid float/)
    await assert.rejects(store.increment('n', Number.NaN), TypeError)
  })

  test('increment is exact up to 2^53 - 1 either way; a sum past it is refused and the counter kept', async () => {
    const store = (await env.fleet()).store()
    const edge = Number.MAX_SAFE_INTEGER
    // Integer replies this near 2^53 are decoded one off by ioredis 6; past it no number holds them.
    for (const o of [undefined, { ttl: 60_000 }]) {
      for (const sign of [1, -1]) {
        const key = `edge:${sign}:${o ? 'ttl' : 'plain'}`
        await store.set(key, sign * (edge - 51))
        assert.equal(await store.increment(key, sign * 9, o), sign * (edge - 42))
        assert.equal(await store.increment(key, sign * 42, o), sign * edge)
        const error = await store.increment(key, sign, o).then(
          () => assert.fail('a sum past 2^53 - 1 resolved'),
          (e: unknown) => e,
        )
        assert.ok(error instanceof CommandError, String(error))
        assert.match(error.message, /not an integer or out of range/)
        assert.equal(await store.get(key), sign * edge, 'the refused step is not applied')
      }
    }
    // -0 is stored as "-0", which INCRBY refuses and INCRBYFLOAT takes.
    await store.set('zero', -0)
    assert.equal(await store.increment('zero', 0), 0)
    assert.equal(await store.increment('zero'), 1)
    const error = await store.increment('edge:1:plain', 2 ** 53).then(
      () => assert.fail('a step of 2^53 resolved'),
      (e: unknown) => e,
    )
    assert.ok(
      error instanceof TypeError && (error as { code?: string }).code === 'ERR_INVALID_ARGUMENT',
      String(error),
    )
    assert.equal(await store.get('edge:1:plain'), edge)
  })

  test('a refused step is never seen: calls made right after it, not awaited, meet the counter as it was', async () => {
    const store = (await env.fleet()).store<number>()
    const edge = Number.MAX_SAFE_INTEGER
    await store.set('seen', edge)
    const refused = store.increment('seen', 1).catch((e: unknown) => e)
    const read = store.get('seen')
    const many = store.getMany(['seen'])
    const next = store.increment('seen', -5)
    assert.ok((await refused) instanceof CommandError)
    assert.equal(await read, edge)
    assert.deepEqual(await many, [edge])
    assert.equal(await next, edge - 5)
    await store.set('gone', edge)
    const refusedToo = store.increment('gone', 1).catch((e: unknown) => e)
    const deleted = store.delete('gone')
    assert.ok((await refusedToo) instanceof CommandError)
    assert.equal(await deleted, true)
    assert.equal(await store.get('gone'), undefined, 'the undo of the refused step brought the key back')
  })

  test('increments of a fractional counter stay in call order with the calls after them (SPEC §2)', async () => {
    const store = (await env.fleet()).store<number>()
    await store.set('half', 0.5)
    // Not awaited one by one: each is sent before the next is made.
    assert.deepEqual(
      await Promise.all([store.increment('half'), store.set('half', 100), store.get('half')]),
      [1.5, undefined, 100],
    )
    assert.equal(await store.get('half'), 100)
    await store.set('half', 1.5)
    assert.deepEqual(
      await Promise.all([store.increment('half', 1), store.increment('half', 2), store.get('half')]),
      [2.5, 4.5, 4.5],
    )
  })

  test('a refused increment is a CommandError naming the caller’s key, never the namespaced one', async () => {
    const store = (await env.fleet()).store()
    await store.set('text', 'abc')
    for (const by of [1, 0.5]) {
      const error = await store.increment('text', by).then(
        () => assert.fail('increment of a non-number resolved'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof CommandError, String(error))
      assert.equal(error.code, 'ERR_COMMAND')
      assert.match(error.message, /^store\.increment 'text' failed: ERR value is not a valid float$/)
      assert.ok(!error.message.includes(env.namespace), error.message)
      assert.ok(!error.message.includes('store:text'), error.message)
    }
  })

  test('a key holding another type (a stream) is refused with WRONGTYPE and left as it was; getMany reads it as missing', async () => {
    const raw = await rawAccess(env.topology)
    const store = (await env.fleet()).store()
    const key = 'typed'
    await raw.stream(`${env.namespace}:store:${key}`)
    const refusals = [store.get(key), store.increment(key, 1), store.update(key, () => 1)]
    for (const refused of refusals) {
      await assert.rejects(refused, (error: unknown) => {
        assert.ok(error instanceof CommandError, String(error))
        assert.match(error.message, /WRONGTYPE/)
        return true
      })
    }
    assert.deepEqual(await store.getMany([key]), [undefined])
    assert.equal(await raw.isStream(`${env.namespace}:store:${key}`), true, 'the stream is kept')
    await raw.close()
  })

  test('increment ttl is applied only when the key has none and never extended', async () => {
    const store = (await env.fleet()).store()
    const since = Date.now()
    await store.increment('c', 1, { ttl: TTL })
    await store.increment('c', 1, { ttl: 60 * TTL }) // must not extend the first ttl
    await whileFresh(since, TTL, async () => assert.equal(await store.get('c'), 2))
    await until('the first ttl applied', async () => (await store.get('c')) === undefined)
    await store.set('plain', 5)
    await store.increment('plain', 1, { ttl: TTL })
    await until('a key without ttl gets the ttl', async () => (await store.get('plain')) === undefined)
  })

  test('update is read-modify-write; undefined deletes; ttl kept unless given', async () => {
    const store = (await env.fleet()).store<{ n: number }>()
    assert.deepEqual(await store.update('u', (cur) => ({ n: (cur?.n ?? 0) + 1 })), { n: 1 })
    assert.deepEqual(await store.update('u', (cur) => ({ n: cur!.n + 1 })), { n: 2 })
    assert.equal(await store.update('u', () => undefined), undefined)
    assert.equal(await store.get('u'), undefined)
    assert.equal(await store.update('never', () => undefined), undefined)
    // Five ttls: the update must read the key before it expires, on a loaded machine too.
    await store.set('t', { n: 1 }, { ttl: 5 * TTL })
    assert.deepEqual(await store.update('t', (cur) => ({ n: cur!.n + 1 })), { n: 2 })
    await until('update kept the existing ttl', async () => (await store.get('t')) === undefined)
    await store.update('t2', () => ({ n: 1 }), { ttl: TTL })
    await until('update set its ttl', async () => (await store.get('t2')) === undefined)
  })

  test('update: 4 processes x 250 concurrent increments of one field yield exactly 1000', async () => {
    const fleet = await env.fleet()
    if (env.topology === 'memory') {
      // Memory is one process by definition: four fleets stand in for four processes.
      const stores = [fleet, await env.fleet(), await env.fleet(), await env.fleet()].map((f) =>
        f.store<{ hits: number }>(),
      )
      await Promise.all(
        stores.flatMap((s) =>
          Array.from({ length: 250 }, () => s.update('hits', (c) => ({ hits: (c?.hits ?? 0) + 1 }))),
        ),
      )
    } else {
      const options = { ...(await topologyOptions(env.topology)), namespace: env.namespace }
      await Promise.all(
        [1, 2, 3, 4].map(() => runWorker('store-update.ts', { options, key: 'hits', count: 250 })),
      )
    }
    assert.deepEqual(await fleet.store().get('hits'), { hits: 1000 })
  })

  test('getMany calls made together, with keys in common and repeated, each get their own values in their own order', async () => {
    const store = (await env.fleet()).store<{ n: number }>()
    const keys = Array.from({ length: 30 }, (_, i) => `together-${i}`)
    await store.setMany(keys.map((k, i) => [k, { n: i }]))
    const asked = [keys, [...keys].reverse(), [keys[3]!, 'absent', keys[3]!], keys.slice(10, 20), ['absent']]
    const answers = await Promise.all(asked.map((list) => store.getMany(list)))
    answers.forEach((values, i) => {
      assert.deepEqual(
        values,
        asked[i]!.map((key) => (key === 'absent' ? undefined : { n: Number(key.split('-')[1]) })),
      )
    })
    answers[0]![3]!.n = -1
    assert.deepEqual(answers[2], [{ n: 3 }, undefined, { n: 3 }], 'no caller shares a value with another')
    assert.notEqual(answers[2]![0], answers[2]![2])
  })

  test('getMany and setMany keep input order across nodes, with ttl', async () => {
    const store = (await env.fleet()).store<number>()
    const keys = Array.from({ length: 100 }, (_, i) => `many-${i}`)
    await store.setMany(keys.map((k, i) => [k, i]))
    assert.deepEqual(await store.getMany([...keys, 'absent']), [...keys.map((_, i) => i), undefined])
    assert.deepEqual(await store.getMany([]), [])
    await store.setMany([], { ttl: 10 })
    // An entry that is not a [key, value] pair is a bad argument, and nothing is written.
    await assert.rejects(store.setMany([['many-0', 7], 'nx' as never]), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARGUMENT',
    })
    assert.equal(await store.get('many-0'), 0)
    await store.setMany(
      [
        ['brief-a', 1],
        ['brief-b', 2],
      ],
      { ttl: TTL },
    )
    await until('setMany ttl applied', async () => {
      const values = await store.getMany(['brief-a', 'brief-b'])
      return values[0] === undefined && values[1] === undefined
    })
  })

  test('multi-key calls on keys with braces never fail with CROSSSLOT, whatever their hash tags', async () => {
    const fleet = await env.fleet()
    const store = fleet.store<string>()
    // An empty first tag ({}) makes Redis hash the whole key, where a tag-reading client may
    // read a later {...}: such a key and one tagged e2 are on different slots.
    const keys = ['p{}{e2}', 'q{e2}', '{}', '{}x{y}', 'a{}b}c', 'a{b}c', '{e2}', 'x{}', 'plain']
    await store.setMany(keys.map((key) => [key, `v-${key}`]))
    assert.deepEqual(
      await store.getMany(keys),
      keys.map((key) => `v-${key}`),
    )
    for (const key of keys) assert.equal(await store.get(key), `v-${key}`, key)
    const cache = fleet.cache({ namespace: 'braces' })
    await cache.writeMulti(Object.fromEntries(keys.map((key) => [key, key])))
    assert.deepEqual([...(await cache.readMulti(keys)).keys()], keys)
    assert.equal(await cache.deleteMulti(keys), keys.length)
    for (const key of keys) {
      assert.equal(await cache.write(key, 'tagged', { tags: [key] }), true, key)
      assert.equal(await cache.fetch(key, () => 'computed'), 'tagged', key)
      await cache.invalidateTag(key)
      assert.equal(await cache.read(key), undefined, key)
      assert.equal(await cache.increment(`n${key}`), 1, key)
      assert.equal(await store.update(key, (value) => `${value}!`), `v-${key}!`, key)
      assert.equal(await store.delete(key), true, key)
    }
  })

  test('withNamespace views are isolated and prefix options separate stores', async () => {
    const fleet = await env.fleet()
    const a = fleet.withNamespace('a').store()
    const b = fleet.withNamespace('b').store()
    await a.set('same', 'in a')
    await b.set('same', 'in b')
    assert.equal(await a.get('same'), 'in a')
    assert.equal(await b.get('same'), 'in b')
    assert.equal(await fleet.store().get('same'), undefined)
    assert.equal(fleet.withNamespace('a').namespace, `${env.namespace}:a`)
    const p = fleet.store({ prefix: 'other:' })
    await p.set('same', 1)
    assert.equal(await fleet.store().get('same'), undefined)
  })

  test('calls made before close() on a fleet that has not connected yet are served, not ClosedError', async () => {
    const options = { ...(await topologyOptions(env.topology)), namespace: uniqueNamespace('cold') }
    const fleet = createFleet(options)
    const store = fleet.store()
    // Not awaited: close() comes while the fleet is still opening its connections.
    const calls = [
      store.set('k', 1),
      store.increment('n', 2),
      fleet.streams().publishToChannel('c', { a: 1 }),
    ]
    await fleet.close()
    await Promise.all(calls)
    const again = createFleet(options)
    try {
      assert.equal(await again.store().get('k'), 1)
      assert.equal(await again.store().get('n'), 2)
      assert.equal((await again.streams().readRange('c')).length, 1)
    } finally {
      await again.close()
    }
    await assert.rejects(store.get('k'), ClosedError)
  })

  /** 'k' holds 'before', and an update of it runs its fn until `release()` ('after close'). */
  async function updateInFn() {
    const fleet = await env.fleet()
    const store = fleet.store()
    await store.set('k', 'before')
    let release!: () => void
    let called!: () => void
    const inFn = new Promise<void>((resolve) => {
      called = resolve
    })
    const update = store.update('k', async () => {
      called()
      await new Promise<void>((resolve) => {
        release = resolve
      })
      return 'after close'
    })
    return { fleet, store, update, inFn, release: () => release() }
  }

  test('an update whose fn settles after close() writes nothing and rejects with ClosedError', async () => {
    const { fleet, update, inFn, release } = await updateInFn()
    await inFn
    await fleet.close()
    release()
    await assert.rejects(update, (error: unknown) => {
      assert.ok(error instanceof ClosedError, String(error))
      assert.equal(error.outcome, 'not-applied')
      return true
    })
    const again = await env.fleet()
    assert.equal(await again.store().get('k'), 'before')
  })

  test('calls on a key held by an update whose fn has not settled reject with ClosedError at close, not after the fn', async () => {
    const { fleet, store, update, inFn, release } = await updateInFn()
    update.catch(() => {}) // heard below, once its fn settled
    await inFn
    const settled = new Map<string, unknown>()
    const follow = (name: string, call: Promise<unknown>) =>
      call.then(
        (value) => settled.set(name, value),
        (error: unknown) => settled.set(name, error),
      )
    // Made before close: they wait for the update, which waits for its fn.
    follow('get before close', store.get('k'))
    follow('set before close', store.set('k', 'queued'))
    await fleet.close()
    follow('get after close', store.get('k'))
    // The fn still has not settled: what close let go is refused within a turn of the loop.
    await new Promise((resolve) => setImmediate(resolve))
    for (const name of ['get before close', 'set before close', 'get after close']) {
      const error = settled.get(name)
      assert.ok(
        error instanceof ClosedError,
        `${name}: ${settled.has(name) ? String(error) : 'still waiting'}`,
      )
      assert.equal(error.outcome, 'not-applied', name)
    }
    release()
    await assert.rejects(update, ClosedError)
    const again = await env.fleet()
    assert.equal(await again.store().get('k'), 'before')
  })

  test('failsafe: a stored value that cannot be decoded is a miss reported to onError; a value that cannot be encoded still throws', async () => {
    const fleet = await env.fleet()
    // Another writer's text under the store's keys (what a non-JSON codec writes).
    const foreign = fleet.store<string>({ codec: { encode: (v) => String(v), decode: (text) => text } })
    await foreign.set('corrupt', '{not json')
    await foreign.set('fine', '{"ok":true}')
    const store = fleet.store()
    await assert.rejects(store.get('corrupt'), (error: unknown) => {
      assert.ok(error instanceof SerializationError && error.stored, String(error))
      return true
    })
    const errors: [string, unknown][] = []
    const safe = failsafe(store, { onError: (e, op) => errors.push([op, e]) })
    assert.equal(await safe.get('corrupt'), undefined)
    assert.deepEqual(await safe.getMany(['fine', 'corrupt']), [undefined, undefined])
    assert.deepEqual(
      errors.map(([op, e]) => [op, e instanceof SerializationError && e.stored]),
      [
        ['get', true],
        ['getMany', true],
      ],
    )
    await assert.rejects(safe.set('k', new Map() as never), (error: unknown) => {
      assert.ok(error instanceof SerializationError && !error.stored, String(error))
      return true
    })
    assert.equal(errors.length, 2, 'a caller bug is thrown, not reported')
    assert.equal(await foreign.get('corrupt'), '{not json', 'nothing stored was changed')
  })

  test('after close every method rejects with ClosedError (outcome not-applied); failsafe turns it into a no-op', async () => {
    const fleet = await env.fleet()
    const store = fleet.store()
    await store.set('k', 1)
    await fleet.close()
    const calls: Promise<unknown>[] = [
      store.get('k'),
      store.set('k', 2),
      store.delete('k'),
      store.setIfNotExists('k', 2),
      store.increment('k'),
      store.update('k', () => 3),
      store.getMany(['k']),
      store.setMany([['k', 2]]),
      // With nothing to send too (none would reach Redis): the fleet refuses every call.
      store.getMany([]),
      store.setMany([]),
    ]
    for (const call of calls) {
      await assert.rejects(call, (error: unknown) => {
        assert.ok(error instanceof ClosedError, String(error))
        assert.equal(error.outcome, 'not-applied', 'never sent')
        return true
      })
    }
    const errors: string[] = []
    const safe = failsafe(store, { onError: (_e, op) => errors.push(op) })
    assert.equal(await safe.get('k'), undefined)
    assert.equal(await safe.set('k', 2), undefined)
    assert.deepEqual(await safe.getMany(['k', 'j']), [undefined, undefined], 'one miss per key')
    assert.deepEqual(await safe.getMany([]), [])
    assert.deepEqual(errors, ['get', 'set', 'getMany', 'getMany'])
    assert.throws(() => fleet.store(), ClosedError)
  })
})
