import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { createFleet, InvalidArgumentError, SerializationError } from '../../src/index.ts'
import { convertDataStore } from '../../src/integrations/convert.ts'
import { runWorker } from '../harness/processes.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const fleets: ReturnType<typeof createFleet>[] = []
after(() => Promise.all(fleets.map((f) => f.close())))

async function visitorRequest(namespace: string, visitor: string, goal: string, split: [number, number]) {
  const { standalone } = await testServers()
  const out = await runWorker('convert-visitor.ts', {
    options: { url: standalone, namespace },
    visitor,
    goal,
    split,
  })
  return JSON.parse(out) as { variation: string; conversions: number }
}

test('real Convert SDK in two processes: sticky bucketing and a goal recorded once', async () => {
  const namespace = uniqueNamespace()
  // Process A buckets with all traffic on control; process B's config sends all traffic to the
  // variant, so only the shared store can make B answer control.
  const a = await visitorRequest(namespace, 'visitor-1', 'goal-a', [100, 0])
  const b = await visitorRequest(namespace, 'visitor-1', 'goal-a', [0, 100])
  assert.equal(a.variation, 'control')
  assert.equal(b.variation, 'control', 'process B kept the bucketing process A stored')
  assert.equal(a.conversions + b.conversions, 1, 'goal-a converted in both processes is recorded once')

  // A visitor B has never seen is bucketed by B's own config: the store, not luck, made B sticky.
  assert.equal((await visitorRequest(namespace, 'visitor-2', 'goal-a', [0, 100])).variation, 'variant')

  const { standalone } = await testServers()
  const fleet = createFleet({ url: standalone, namespace })
  fleets.push(fleet)
  assert.deepEqual(await fleet.store({ prefix: 'convert:' }).get('100-200-visitor-1'), {
    bucketing: { '1001': '2001' },
    goals: { 'goal-a': true },
  })
})

test('concurrent processes converting different goals of one visitor both persist', async () => {
  const namespace = uniqueNamespace()
  const [a, b] = await Promise.all([
    visitorRequest(namespace, 'v', 'goal-a', [100, 0]),
    visitorRequest(namespace, 'v', 'goal-b', [100, 0]),
  ])
  assert.equal(a.conversions + b.conversions, 2)
  const { standalone } = await testServers()
  const fleet = createFleet({ url: standalone, namespace })
  fleets.push(fleet)
  const stored = (await fleet.store({ prefix: 'convert:' }).get('100-200-v')) as { goals: object }
  assert.deepEqual(stored.goals, { 'goal-a': true, 'goal-b': true })
})

test('set merges stale copies instead of replacing; save writes only what changed', async () => {
  const fleet = createFleet({ namespace: uniqueNamespace() })
  fleets.push(fleet)
  const store = convertDataStore(fleet)
  const other = convertDataStore(fleet)
  await store.load('k')
  store.set('k', { bucketing: { e1: 'v1' } })
  await store.save()
  await other.load('k')
  other.set('k', { goals: { g: true } })
  await other.save()
  // The SDK re-sends an old copy of the visitor (its write queue is never cleared):
  store.set('k', { bucketing: { e1: 'v1' } })
  await store.save('k')
  assert.deepEqual(await fleet.store({ prefix: 'convert:' }).get('k'), {
    bucketing: { e1: 'v1' },
    goals: { g: true },
  })
  const copy = store.get('k') as { bucketing: Record<string, string> }
  copy.bucketing.e1 = 'mutated by the caller'
  assert.deepEqual(store.get('k'), { bucketing: { e1: 'v1' } }, 'get returns a copy')
})

test('a value that cannot be stored fails its save once, not every later one', async () => {
  const fleet = createFleet({ namespace: uniqueNamespace() })
  fleets.push(fleet)
  const store = convertDataStore(fleet)
  store.set('bad', { d: new Date(0) })
  store.set('good', { goals: { g: true } })
  await assert.rejects(store.save(), { code: 'ERR_SERIALIZATION', message: /value\.d is a Date/ })
  assert.deepEqual(await fleet.store({ prefix: 'convert:' }).get('good'), { goals: { g: true } })
  await store.save()
  store.set('good', { goals: { h: true } })
  await store.save()
  assert.deepEqual(await fleet.store({ prefix: 'convert:' }).get('good'), { goals: { g: true, h: true } })
})

test('a BigInt, a cycle, a function or a value nested too deeply fails one save only; load and the other changes go on', async () => {
  const fleet = createFleet({ namespace: uniqueNamespace() })
  fleets.push(fleet)
  const store = convertDataStore(fleet)
  const cycle: Record<string, unknown> = {}
  cycle.self = cycle
  let deep: unknown = 1
  for (let i = 0; i < 20_000; i++) deep = { deep }
  const bad: [unknown, RegExp][] = [
    [{ goals: { g: 1n } }, /value\.goals\.g is a BigInt/],
    [cycle, /value\.self is a cycle|cycle/],
    [{ f: () => 'secret-source' }, /value\.f is a function/],
    [deep, /nested too deeply/],
  ]
  for (const [value, reason] of bad) {
    await store.load('v')
    store.set('v', { goals: { kept: true } })
    store.set('v', value) // synchronous for the SDK: never throws
    await store.load('v') // the next request of the visitor may load before this save
    const error = await store.save('v').then(
      () => assert.fail('the save resolved'),
      (e: unknown) => e,
    )
    assert.ok(error instanceof SerializationError, String(error))
    assert.match(error.message, reason)
    assert.ok(!error.message.includes('secret-source'), 'the message never holds the value')
    await store.load('v')
    await store.save('v')
    assert.deepEqual(await fleet.store({ prefix: 'convert:' }).get('v'), { goals: { kept: true } })
  }
})

test("a key the store cannot have, given to set, fails the next save once, and the other visitors' changes go on", async () => {
  const fleet = createFleet({ namespace: uniqueNamespace() })
  fleets.push(fleet)
  const badKeys: [string | undefined, unknown, RegExp][] = [
    [undefined, 7, /key must be a string, got number/],
    [undefined, '', /key must not be empty/],
    [undefined, 'k'.repeat(1025), /1024/],
    // With no prefix, this key would be stored where the fleet's caches keep theirs.
    ['', 'cache:abc', /would be stored/],
  ]
  for (const [i, [prefix, key, reason]] of badKeys.entries()) {
    const store = convertDataStore(fleet, prefix === undefined ? {} : { prefix })
    store.set(key as string, { goals: { lost: true } }) // synchronous for the SDK: never throws
    store.set(`v${i}`, { goals: { kept: true } })
    await assert.rejects(
      store.save(),
      (e: unknown) => e instanceof InvalidArgumentError && reason.test(e.message),
    )
    await store.save()
    await store.save()
    const saved = await fleet.store({ prefix: prefix ?? 'convert:' }).get(`v${i}`)
    assert.deepEqual(saved, { goals: { kept: true } }, String(key))
  }
})

test('a stored record that cannot be read fails the save, and the changes wait for the next one', async () => {
  const fleet = createFleet({ namespace: uniqueNamespace() })
  fleets.push(fleet)
  const text = fleet.store<string>({ prefix: 'convert:', codec: { encode: String, decode: (t) => t } })
  await text.set('v', 'not json')
  const store = convertDataStore(fleet)
  store.set('v', { goals: { g: true } })
  await assert.rejects(store.save(), { code: 'ERR_SERIALIZATION', stored: true })
  await text.delete('v')
  await store.save()
  assert.deepEqual(await fleet.store({ prefix: 'convert:' }).get('v'), { goals: { g: true } })
})
