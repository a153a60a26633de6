/**
 * The store under ambiguous failures (SPEC §8): a private server is held with `CLIENT PAUSE`
 * for longer than `commandTimeout`, so that sent commands time out and may still be applied.
 * Operations that repeating could apply twice are applied exactly once, or reject with
 * `outcome: 'unknown'`; a claim and an update recognise their own earlier write. A call cut off
 * by `fleet.close()` while Redis holds it is a ClosedError whose outcome is unknown too.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { INCREMENT_WITH_TTL } from '../../src/store/scripts.ts'
import { pausableServer } from '../harness/pausable-server.ts'
import { runWorker } from '../harness/processes.ts'

const server = pausableServer()

function settle<T>(
  promise: Promise<T>,
): Promise<{ value: T } | { error: { outcome?: string; code?: string } }> {
  return promise.then(
    (value) => ({ value }),
    (error) => ({ error }),
  )
}

test('increment during a pause longer than commandTimeout is applied once and rejects as unknown', async () => {
  const fleet = server.fleet({ commandTimeout: 500 })
  const namespace = fleet.namespace
  const store = fleet.store()
  // 'ctr' takes the INCRBYFLOAT path, 'ctr-ttl' the script (the server knows it, as after a first call).
  await server.admin.set(`${namespace}:store:ctr`, '1')
  await server.admin.set(`${namespace}:store:ctr-ttl`, '1')
  await server.admin.script('LOAD', INCREMENT_WITH_TTL.lua)
  await store.get('warm-up')
  await server.pause(2500)
  const results = await Promise.all([
    settle(store.increment('ctr')),
    settle(store.increment('ctr-ttl', 1, { ttl: 60_000 })),
  ])
  // A GET on the admin connection runs after the pause, so after the paused commands (and any resend).
  const stored = await server.admin.mget(`${namespace}:store:ctr`, `${namespace}:store:ctr-ttl`)
  assert.deepEqual(stored, ['2', '2'], 'applied exactly once: neither redfleet nor ioredis re-sent them')
  for (const result of results) {
    if ('value' in result) assert.equal(result.value, 2)
    else {
      assert.equal(result.error.code, 'ERR_TIMEOUT')
      assert.equal(result.error.outcome, 'unknown')
    }
  }
})

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: an increment cut off by fleet.close() while Redis holds it rejects with ClosedError whose outcome is unknown`, async () => {
    const fleet = server.fleet({ commandTimeout: 30_000, transport })
    const store = fleet.store()
    await store.get('warm-up')
    // WRITE: the increment is held, while CLIENT LIST (a read) still shows it has arrived. The
    // pause outlasts close's wait for the server's answers (2 s per connection).
    await server.pause(10_000, 'WRITE')
    try {
      const increment = settle(store.increment('ctr'))
      for (;;) {
        const clients = String(await server.admin.call('CLIENT', 'LIST'))
        // The counter step is a script (EVAL on its first run, EVALSHA after).
        if (/cmd=eval/.test(clients)) break
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      await fleet.close()
      // Not answered once the pause ends, by a connection close left open (node-redis did).
      const result = await increment
      assert.ok('error' in result, `rejected, got ${JSON.stringify(result)}`)
      assert.equal(result.error.code, 'ERR_CLOSED')
      assert.equal(result.error.outcome, 'unknown', 'sent: Redis may apply it')
    } finally {
      await server.unpause()
    }
  })
}

test('a claim whose reply was lost is recognised as its own win when re-sent', async () => {
  const fleet = server.fleet({ commandTimeout: 1000 })
  const namespace = fleet.namespace
  const store = fleet.store<string>()
  await store.get('warm-up')
  await server.pause(2500)
  assert.equal(await store.setIfNotExists('claim', 'mine', { ttl: 60_000 }), true)
  assert.equal(await server.admin.get(`${namespace}:store:claim`), '"mine"')
  assert.equal(await store.setIfNotExists('claim', 'another'), false)
})

test('update re-sends a write whose reply was lost instead of applying fn twice', async () => {
  const fleet = server.fleet({ commandTimeout: 500 })
  const store = fleet.store<{ n: number }>()
  await store.set('u', { n: 0 })
  let calls = 0
  const result = await store.update('u', async (current) => {
    calls++
    // The compare-and-set that follows is sent while the server is paused, and times out.
    await server.pause(1000)
    return { n: current!.n + 1 }
  })
  assert.deepEqual(result, { n: 1 })
  assert.equal(calls, 1, 'fn ran once')
  assert.deepEqual(await store.get('u'), { n: 1 })
})

test('update rejects as unknown when every send of its write timed out, and is applied once', async () => {
  const fleet = server.fleet({ commandTimeout: 500 })
  const namespace = fleet.namespace
  const store = fleet.store<{ n: number }>()
  await store.set('u', { n: 0 })
  let calls = 0
  const result = await settle(
    store.update('u', async (current) => {
      calls++
      await server.pause(2500)
      return { n: current!.n + 1 }
    }),
  )
  assert.ok('error' in result, 'every attempt timed out')
  assert.equal(result.error.outcome, 'unknown')
  assert.equal(calls, 1)
  // Read on the admin connection: it waits out the pause, after the paused sends.
  assert.equal(
    await server.admin.get(`${namespace}:store:u`),
    '{"n":1}',
    'the first send applied, the re-sends recognised it',
  )
})

test('update rejects as not-applied when every read timed out: fn never ran, nothing was written', async () => {
  const fleet = server.fleet({ commandTimeout: 500 })
  const store = fleet.store<{ n: number }>()
  await store.set('r', { n: 0 })
  let calls = 0
  // Longer than every attempt's commandTimeout and backoff (3 × 500 ms + at most 150 ms).
  await server.pause(2500)
  const result = await settle(
    store.update('r', (current) => {
      calls++
      return { n: current!.n + 1 }
    }),
  )
  assert.ok('error' in result, 'every read timed out')
  assert.equal(result.error.code, 'ERR_TIMEOUT')
  assert.equal(result.error.outcome, 'not-applied')
  assert.equal(calls, 0)
  assert.deepEqual(await store.get('r'), { n: 0 })
})

test('20 rounds of 5 concurrent claims across 2 processes during pauses: exactly one winner each', async () => {
  const rounds = 20
  const fleet = server.fleet({ commandTimeout: 500 })
  const namespace = fleet.namespace
  const store = fleet.store<string>()
  const control = fleet.store<number>({ prefix: 'control:' })
  const child = runWorker(
    'store-claim.ts',
    { options: { url: server.url, namespace, commandTimeout: 500 }, rounds, callers: 2 },
    { timeout: 300_000 },
  )
  const results: { round: number; value: string; won?: boolean; error?: string; outcome?: string }[] = []
  for (let round = 0; round < rounds; round++) {
    await control.set('round', round)
    while ((await control.get('seen')) !== round) await new Promise((resolve) => setTimeout(resolve, 5))
    await server.pause(1000)
    const mine = await Promise.all(
      Array.from({ length: 3 }, (_, i) => {
        const value = `parent-${round}-${i}`
        return settle(store.setIfNotExists(`round-${round}`, value, { ttl: 600_000 })).then((outcome) =>
          'value' in outcome
            ? { round, value, won: outcome.value }
            : { round, value, error: String(outcome.error), outcome: outcome.error.outcome },
        )
      }),
    )
    results.push(...mine)
  }
  for (const line of (await child).trim().split('\n')) results.push(JSON.parse(line))
  for (let round = 0; round < rounds; round++) {
    const calls = results.filter((r) => r.round === round)
    assert.equal(calls.length, 5, `round ${round}: 5 callers`)
    assert.deepEqual(
      calls.filter((r) => r.error !== undefined),
      [],
      `round ${round}: every caller got an answer`,
    )
    const winners = calls.filter((r) => r.won)
    assert.equal(winners.length, 1, `round ${round}: exactly one winner, got ${JSON.stringify(calls)}`)
    assert.equal(await store.get(`round-${round}`), winners[0]!.value, `round ${round}: the winner's value`)
  }
})
