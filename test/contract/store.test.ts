import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ClosedError, failsafe, SerializationError } from '../../src/index.ts'
import { runWorker } from '../harness/processes.ts'
import { forEachTopology, topologyOptions } from '../harness/topologies.ts'

forEachTopology('Store contract', (env) => {
  test('get of a missing key is undefined; set then get round-trips', async () => {
    const store = (await env.fleet()).store()
    assert.equal(await store.get('missing'), undefined)
    await store.set('k', { a: 1 })
    assert.deepEqual(await store.get('k'), { a: 1 })
  })

  test('JSON values round-trip exactly: unicode, nested, null, booleans, numbers, arrays', async () => {
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
    ]
    for (const [i, value] of values.entries()) {
      await store.set(`v${i}`, value)
      assert.deepEqual(await store.get(`v${i}`), value, `value #${i}`)
    }
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
    await store.set('short', 'x', { ttl: 60 })
    await store.set('long', 'y', { ttl: 60 })
    await store.set('long', 'y')
    assert.equal(await store.get('short'), 'x')
    await sleep(120)
    assert.equal(await store.get('short'), undefined)
    assert.equal(await store.get('long'), 'y')
    await assert.rejects(store.set('bad', 1, { ttl: -5 }), TypeError)
    await assert.rejects(store.set('bad', 1, { ttl: 1.5 }), TypeError)
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

  test('setIfNotExists ttl frees the claim', async () => {
    const store = (await env.fleet()).store()
    assert.equal(await store.setIfNotExists('lease', 1, { ttl: 50 }), true)
    assert.equal(await store.setIfNotExists('lease', 2, { ttl: 50 }), false)
    await sleep(100)
    assert.equal(await store.setIfNotExists('lease', 3), true)
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

  test('increment ttl is applied only when the key has none and never extended', async () => {
    const store = (await env.fleet()).store()
    await store.increment('c', 1, { ttl: 150 })
    await sleep(80)
    await store.increment('c', 1, { ttl: 10_000 }) // must not extend the first ttl
    assert.equal(await store.get('c'), 2)
    await sleep(120)
    assert.equal(await store.get('c'), undefined, 'the first ttl still applied')
    await store.set('plain', 5)
    await store.increment('plain', 1, { ttl: 60 })
    await sleep(120)
    assert.equal(await store.get('plain'), undefined, 'a key without ttl gets the ttl')
  })

  test('update is read-modify-write; undefined deletes; ttl kept unless given', async () => {
    const store = (await env.fleet()).store<{ n: number }>()
    assert.deepEqual(await store.update('u', (cur) => ({ n: (cur?.n ?? 0) + 1 })), { n: 1 })
    assert.deepEqual(await store.update('u', (cur) => ({ n: cur!.n + 1 })), { n: 2 })
    assert.equal(await store.update('u', () => undefined), undefined)
    assert.equal(await store.get('u'), undefined)
    assert.equal(await store.update('never', () => undefined), undefined)
    await store.set('t', { n: 1 }, { ttl: 80 })
    await store.update('t', (cur) => ({ n: cur!.n + 1 }))
    await sleep(130)
    assert.equal(await store.get('t'), undefined, 'update kept the existing ttl')
    await store.update('t2', () => ({ n: 1 }), { ttl: 60 })
    await sleep(120)
    assert.equal(await store.get('t2'), undefined)
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

  test('getMany and setMany keep input order across nodes, with ttl', async () => {
    const store = (await env.fleet()).store<number>()
    const keys = Array.from({ length: 100 }, (_, i) => `many-${i}`)
    await store.setMany(keys.map((k, i) => [k, i]))
    assert.deepEqual(await store.getMany([...keys, 'absent']), [...keys.map((_, i) => i), undefined])
    assert.deepEqual(await store.getMany([]), [])
    await store.setMany([], { ttl: 10 })
    await store.setMany(
      [
        ['brief-a', 1],
        ['brief-b', 2],
      ],
      { ttl: 60 },
    )
    await sleep(120)
    assert.deepEqual(await store.getMany(['brief-a', 'brief-b']), [undefined, undefined])
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

  test('after close every method rejects with ClosedError; failsafe turns it into a no-op', async () => {
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
    ]
    for (const call of calls) await assert.rejects(call, ClosedError)
    const errors: string[] = []
    const safe = failsafe(store, { onError: (_e, op) => errors.push(op) })
    assert.equal(await safe.get('k'), undefined)
    assert.equal(await safe.set('k', 2), undefined)
    assert.deepEqual(errors, ['get', 'set'])
    assert.throws(() => fleet.store(), ClosedError)
  })
})
