/**
 * `redfleet:command` traces each try of a command (SPEC §11, docs/telemetry.md): a call the
 * runner retried is one trace per send, the first and every retry, each ending with what that
 * try got (its error, translated as the caller would hear it, or the reply).
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { test } from 'node:test'
import { type FleetContext, type OperationPolicy, runOperation } from '../../src/context.ts'
import { ConnectionError, TimeoutError } from '../../src/errors.ts'
import { Keyspace } from '../../src/keyspace.ts'
import { Lifecycle } from '../../src/lifecycle.ts'
import { failing } from '../harness/failing.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** The parts of a fleet context the runner reads; retries back off by 0 ms. */
function context(namespace: string, attempts = 3): { ctx: FleetContext; policy: OperationPolicy } {
  const ctx = {
    topology: 'standalone',
    keys: new Keyspace(namespace),
    lifecycle: new Lifecycle(),
    redisHandle: { current: { doubtLayout() {} } },
  } as unknown as FleetContext
  const policy: OperationPolicy = {
    retry: { attempts, base: 0, factor: 1, max: 0, jitter: 0 },
    onError: () => {},
    onCallError: () => {},
  }
  return { ctx, policy }
}

interface Command {
  op: string
  key?: string
  namespace: string
  topology: string
  result?: unknown
  error?: unknown
}

/** The `redfleet:command` traces of `namespace` while `fn` runs: starts, and what each ended with. */
async function commandsOf<T>(
  namespace: string,
  fn: () => Promise<T>,
): Promise<{ starts: Command[]; ends: Command[]; errors: Command[]; outcome: T | unknown }> {
  const channel = diagnosticsChannel.tracingChannel<unknown, Command>('redfleet:command')
  const starts: Command[] = []
  const ends: Command[] = []
  const errors: Command[] = []
  const mine = (context: Command) => context.namespace === namespace
  const handlers = {
    start: (c: Command) => void (mine(c) && starts.push({ ...c })),
    end() {},
    asyncStart() {},
    asyncEnd: (c: Command) => void (mine(c) && ends.push({ ...c })),
    error: (c: Command) => void (mine(c) && errors.push({ ...c })),
  }
  channel.subscribe(handlers)
  let outcome: T | unknown
  try {
    outcome = await fn().catch((error: unknown) => error)
  } finally {
    channel.unsubscribe(handlers)
  }
  return { starts, ends, errors, outcome }
}

test('a command that timed out twice, then answered: three tries, three traces', async () => {
  const namespace = uniqueNamespace('telemetry-tries')
  const { ctx, policy } = context(namespace)
  const body = failing(2, () => new Error('Command timed out'))
  const seen = await commandsOf(namespace, () => runOperation(ctx, policy, 'store.set', 'k', body.fn))
  assert.equal(seen.outcome, 'ok')
  assert.equal(body.calls(), 3, 'three sends')
  assert.equal(seen.starts.length, 3, 'one trace per send')
  assert.equal(seen.ends.length, 3)
  assert.equal(seen.errors.length, 2, 'the two sends that timed out')
  for (const context of seen.starts) {
    assert.deepEqual(
      { op: context.op, key: context.key, namespace: context.namespace, topology: context.topology },
      { op: 'store.set', key: 'k', namespace, topology: 'standalone' },
    )
  }
  for (const failed of seen.errors) assert.ok(failed.error instanceof TimeoutError, String(failed.error))
  assert.equal(seen.ends[2]!.result, 'ok', 'the last try ends with the reply')
  assert.equal(seen.ends[2]!.error, undefined)
})

test('a command that failed on every try: one trace per try, each with its error', async () => {
  const namespace = uniqueNamespace('telemetry-tries')
  const { ctx, policy } = context(namespace)
  const body = failing(Number.POSITIVE_INFINITY, () => new Error('Command timed out'))
  const seen = await commandsOf(namespace, () => runOperation(ctx, policy, 'store.get', 'k', body.fn))
  assert.ok(seen.outcome instanceof TimeoutError, String(seen.outcome))
  assert.equal(body.calls(), 3)
  assert.equal(seen.starts.length, 3)
  assert.equal(seen.ends.length, 3)
  assert.equal(seen.errors.length, 3)
  for (const failed of seen.errors) assert.ok(failed.error instanceof TimeoutError)
})

test('a command that throws synchronously, then answers: each try traced', async () => {
  const namespace = uniqueNamespace('telemetry-tries')
  const { ctx, policy } = context(namespace)
  let calls = 0
  const fn = (): Promise<string> => {
    if (++calls === 1) throw new Error('Connection is closed.')
    return Promise.resolve('ok')
  }
  const seen = await commandsOf(namespace, () => runOperation(ctx, policy, 'store.get', 'k', fn))
  assert.equal(seen.outcome, 'ok')
  assert.equal(calls, 2)
  assert.equal(seen.starts.length, 2)
  assert.equal(seen.errors.length, 1)
  assert.ok(seen.errors[0]!.error instanceof ConnectionError, String(seen.errors[0]!.error))
})

test('a command answered at once, or not retried: one trace', async () => {
  const namespace = uniqueNamespace('telemetry-tries')
  const { ctx, policy } = context(namespace)
  const once = await commandsOf(namespace, () => runOperation(ctx, policy, 'store.get', 'k', async () => 'v'))
  assert.equal(once.outcome, 'v')
  assert.equal(once.starts.length, 1)
  assert.equal(once.ends[0]!.result, 'v')
  // An increment whose send timed out may have been applied: it is not sent again.
  const body = failing(1, () => new Error('Command timed out'))
  const unsure = await commandsOf(namespace, () => runOperation(ctx, policy, 'store.increment', 'n', body.fn))
  assert.ok(unsure.outcome instanceof TimeoutError)
  assert.equal(body.calls(), 1)
  assert.equal(unsure.starts.length, 1)
  assert.equal(unsure.errors.length, 1)
})

test('nobody listening: the retries run as before, untraced', async () => {
  const namespace = uniqueNamespace('telemetry-tries')
  const { ctx, policy } = context(namespace)
  const body = failing(2, () => new Error('Command timed out'))
  assert.equal(await runOperation(ctx, policy, 'store.set', 'k', body.fn), 'ok')
  assert.equal(body.calls(), 3)
})
