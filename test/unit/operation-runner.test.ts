import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { test } from 'node:test'
import { type FleetContext, type OperationPolicy, runOperation } from '../../src/context.ts'
import {
  ClosedError,
  ConnectionError,
  DurabilityError,
  NodeDownError,
  TimeoutError,
} from '../../src/errors.ts'
import { createFleet, type FleetOptions } from '../../src/index.ts'
import { Keyspace } from '../../src/keyspace.ts'
import { Lifecycle } from '../../src/lifecycle.ts'
import { OPERATIONS, type Primitive, repeatsSafely } from '../../src/operations.ts'
import { failing } from '../harness/failing.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** The parts of a fleet context the runner reads; retries back off by 0 ms. */
function context(): {
  ctx: FleetContext
  policy: OperationPolicy
  reported: unknown[]
  doubts: () => number
} {
  const reported: unknown[] = []
  const lifecycle = new Lifecycle()
  let doubts = 0
  // A topology built already, as a call's failure finds it: only doubtLayout is read.
  const redisHandle = { current: { doubtLayout: () => void doubts++ } }
  const ctx = {
    topology: 'standalone',
    keys: new Keyspace('unit'),
    lifecycle,
    redisHandle,
  } as unknown as FleetContext
  const policy: OperationPolicy = {
    retry: { attempts: 3, base: 0, factor: 1, max: 0, jitter: 0 },
    onError: () => assert.fail('a call failure goes to onCallError'),
    onCallError: (error) => void reported.push(error),
  }
  return { ctx, policy, reported, doubts: () => doubts }
}

test('an operation that repeats safely is retried after an ambiguous failure (timeout)', async () => {
  const { ctx, policy } = context()
  const body = failing(2, () => new Error('Command timed out'))
  assert.equal(await runOperation(ctx, policy, 'store.get', 'k', body.fn), 'ok')
  assert.equal(body.calls(), 3)
})

test('an operation applied once is not re-sent after an ambiguous failure: outcome unknown', async () => {
  for (const op of ['store.increment', 'store.setIfNotExists', 'streams.publish', 'membership.send']) {
    if (repeatsSafely(op)) continue // made safe to repeat by an id: retried like a read
    const { ctx, policy, reported } = context()
    const body = failing(1, () => new Error('Command timed out'))
    const error = await runOperation(ctx, policy, op, 'k', body.fn).catch((e: unknown) => e)
    assert.ok(error instanceof TimeoutError, `${op}: ${String(error)}`)
    assert.equal(error.outcome, 'unknown')
    assert.equal(body.calls(), 1, `${op} was sent again`)
    assert.deepEqual(reported, [error])
  }
})

test('a failure known not to have reached Redis is retried for every operation', async () => {
  const { ctx, policy } = context()
  const body = failing(1, () =>
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
  )
  assert.equal(await runOperation(ctx, policy, 'store.increment', 'k', body.fn), 'ok')
  assert.equal(body.calls(), 2)
})

test('a connection lost after sending is ambiguous: outcome unknown, not re-sent for increments', async () => {
  const { ctx, policy } = context()
  const body = failing(1, () => new Error('Connection is closed.'))
  const error = await runOperation(ctx, policy, 'store.increment', 'k', body.fn).catch((e: unknown) => e)
  assert.ok(error instanceof ConnectionError)
  assert.equal(error.outcome, 'unknown')
  assert.equal(body.calls(), 1)
})

/** An operation body whose attempts fail with `errors` in turn (the last one again after them). */
function failingWith(...errors: (() => Error)[]): () => Promise<never> {
  let calls = 0
  return async () => {
    throw errors[Math.min(calls++, errors.length - 1)]!()
  }
}

test('a retry that never reaches Redis does not hide an earlier attempt that may have applied', async () => {
  // SPEC §8: the first set went out and its connection dropped (Redis may have applied it); the
  // retries find the node down. The caller must hear 'unknown', never 'not-applied'.
  for (const op of ['store.set', 'store.setIfNotExists', 'streams.publish', 'membership.send']) {
    const { ctx, policy, reported } = context()
    const body = failingWith(
      () => new Error('Connection is closed.'),
      () => new NodeDownError('node down', '127.0.0.1:1'),
    )
    const error = await runOperation(ctx, policy, op, 'k', body).catch((e: unknown) => e)
    assert.ok(error instanceof ConnectionError, `${op}: ${String(error)}`)
    assert.equal(error.outcome, 'unknown', op)
    assert.deepEqual(reported, [error])
  }
})

test('a close during the retries of an attempt that may have applied: ClosedError, outcome unknown', async () => {
  const { ctx, policy } = context()
  let calls = 0
  const error = await runOperation(ctx, policy, 'store.set', 'k', async () => {
    if (++calls === 2) await ctx.lifecycle.close()
    throw calls === 1 ? new Error('Command timed out') : new NodeDownError('node down', '127.0.0.1:1')
  }).catch((e: unknown) => e)
  assert.ok(error instanceof ClosedError, String(error))
  assert.equal(error.outcome, 'unknown')
  assert.ok(error.cause instanceof TimeoutError)
})

test('a close that cuts off a durable write’s acknowledgements: ClosedError, outcome unknown (it was applied)', async () => {
  const { ctx, policy } = context()
  const error = await runOperation(ctx, policy, 'store.set', 'k', async () => {
    await ctx.lifecycle.close()
    throw new DurabilityError("store.set 'k': written, but not confirmed as durable within 100 ms", {
      replicas: 0,
      localAof: false,
      wanted: { replicas: 1 },
    })
  }).catch((e: unknown) => e)
  assert.ok(error instanceof ClosedError, String(error))
  assert.equal(error.outcome, 'unknown')
  assert.ok(error.cause instanceof DurabilityError)
})

test('a retry known not to have reached Redis after failures that did not either: not-applied', async () => {
  const { ctx, policy } = context()
  const body = failingWith(() => new NodeDownError('node down', '127.0.0.1:1'))
  const error = await runOperation(ctx, policy, 'store.set', 'k', body).catch((e: unknown) => e)
  assert.ok(error instanceof NodeDownError)
  assert.equal(error.outcome, 'not-applied')
})

test('a closed fleet refuses at once, and a failure after close is ClosedError', async () => {
  const { ctx, policy } = context()
  let closeDuringCall: () => Promise<void> = async () => {}
  const pending = runOperation(ctx, policy, 'store.get', 'k', async () => {
    await closeDuringCall()
    throw new Error('Connection is closed.')
  })
  closeDuringCall = () => ctx.lifecycle.close()
  await assert.rejects(pending, ClosedError)
  await assert.rejects(
    runOperation(ctx, policy, 'store.get', 'k', async () => 'never'),
    ClosedError,
  )
})

test('operations are traced on redfleet:<primitive>:<method> with namespace, topology and key', async () => {
  const { ctx, policy } = context()
  const seen: string[] = []
  const channel = diagnosticsChannel.tracingChannel('redfleet:store:get')
  const handlers = {
    start: (c: unknown) => seen.push(`start ${JSON.stringify(c)}`),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (c: unknown) => seen.push(`asyncEnd ${(c as { result: unknown }).result}`),
    error: () => {},
  }
  channel.subscribe(handlers)
  try {
    assert.equal(await runOperation(ctx, policy, 'store.get', 'k', async () => 'v'), 'v')
  } finally {
    channel.unsubscribe(handlers)
  }
  assert.deepEqual(seen, ['start {"namespace":"unit","topology":"standalone","key":"k"}', 'asyncEnd v'])
})

test('every public method of every primitive is classified in src/operations.ts', async () => {
  const fleet = createFleet({ memory: true, namespace: uniqueNamespace('ops') } as FleetOptions)
  try {
    const primitives: Record<Primitive, object> = {
      store: fleet.store(),
      cache: fleet.cache(),
      broker: fleet.broker(),
      presence: fleet.presence(),
      streams: fleet.streams(),
      membership: fleet.membership(),
      tracker: fleet.tracker(),
    }
    for (const [primitive, object] of Object.entries(primitives)) {
      const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(object)).filter(
        (name) => name !== 'constructor' && typeof (object as Record<string, unknown>)[name] === 'function',
      )
      const classified = Object.keys(OPERATIONS[primitive as Primitive])
      const missing = methods.filter((method) => !classified.includes(method) && method !== 'stats')
      assert.deepEqual(missing, [], `${primitive}: unclassified public methods`)
    }
  } finally {
    await fleet.close()
  }
})

test("a call's timeouts and CLUSTERDOWN have the topology doubt its layout (a frozen master's slots may have moved); other failures do not", async () => {
  const { ctx, policy, doubts } = context()
  const timedOut = failing(2, () => new Error('Command timed out'))
  assert.equal(await runOperation(ctx, policy, 'store.get', 'k', timedOut.fn), 'ok')
  assert.equal(doubts(), 2, 'one doubt per timed-out attempt (the topology rate-limits its re-reads)')
  const refused = failing(1, () => new Error('connect ECONNREFUSED 127.0.0.1:1'))
  assert.equal(await runOperation(ctx, policy, 'store.get', 'k', refused.fn), 'ok')
  assert.equal(doubts(), 2)
  // A cluster refusing all (state fail) may be read from a stale map: a restarted master's slots
  // left out, its keys sent to masters that refuse them, and no MOVED to correct it (helper-194).
  const clusterDown = failing(1, () =>
    Object.assign(new Error('CLUSTERDOWN The cluster is down'), { name: 'ReplyError' }),
  )
  assert.equal(await runOperation(ctx, policy, 'store.get', 'k', clusterDown.fn), 'ok')
  assert.equal(doubts(), 3)
})
