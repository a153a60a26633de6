/**
 * A cluster redirection storm: MOVED/ASK still answered after the cluster client followed as
 * many redirections as it may (a restarted master rejoining, a resharding). SPEC §8 counts it
 * transient and SPEC §5 has loops ride it out. Each shape is built as the client builds it.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ReplyError } from 'ioredis'
import { ErrorReply } from 'node-redis5'
import { MaxCommandRedirectionsError } from 'node-redis6'
import {
  CommandError,
  isAmbiguous,
  isRedirection,
  isTransient,
  isTransientFailure,
  translateError,
} from '../../src/errors.ts'
import { isPassing } from '../../src/loops.ts'
import type { ClaimedEntry, ClaimResult, StreamBackend } from '../../src/streams/backend.ts'
import { ConsumerLoop } from '../../src/streams/consumer.ts'

const MOVED = 'MOVED 5386 127.0.0.1:7511'

/** ioredis' Cluster#handleError once maxRedirections is used up (built/cluster/index.js). */
function ioredisStorm(reply: string): Error {
  return new Error(`Too many Cluster redirections. Last error: ${new ReplyError(reply)}`)
}

/** What each client throws when redirections never end, raw. */
const storms: Record<string, () => Error> = {
  'ioredis (Too many Cluster redirections. Last error: ReplyError: MOVED …)': () => ioredisStorm(MOVED),
  'ioredis, ending on ASK': () => ioredisStorm('ASK 5386 127.0.0.1:7511'),
  // node-redis 5 rethrows the last reply once maxCommandRedirections is used up.
  'node-redis 5 (the ErrorReply MOVED …)': () => new ErrorReply(MOVED),
  // node-redis 6 wraps it: MaxCommandRedirectionsError, the reply as its cause.
  'node-redis 6 (MaxCommandRedirectionsError, cause ErrorReply MOVED …)': () =>
    new MaxCommandRedirectionsError(new ErrorReply(MOVED)),
}

describe('a redirection storm is transient', () => {
  for (const [client, storm] of Object.entries(storms)) {
    test(`${client}: a CommandError naming the reply, retried, not ambiguous, ridden out by loops`, () => {
      const raw = storm()
      assert.ok(isTransientFailure(raw), 'retry() tries the raw error again')
      assert.ok(isRedirection(raw))
      const error = translateError(raw, 'streams.consume', 'g')
      assert.ok(error instanceof CommandError, String(error))
      assert.match(error.message, /^streams\.consume 'g' failed: (MOVED|ASK) 5386 127\.0\.0\.1:7511/)
      assert.equal(error.cause, raw)
      assert.ok(isRedirection(error), 'found under the wrapper')
      assert.ok(isTransient(error), 'operations retry it (SPEC §8)')
      // The node answered with a redirection: it did not run the command, so even a publish
      // (never repeated after an ambiguous failure) is retried.
      assert.equal(isAmbiguous(error), false)
      assert.ok(isPassing(error), 'loops ride it out (SPEC §5)')
    })
  }

  test('ioredis refusing a pipeline its newer slot map puts on several masters: a CommandError, retried, not ambiguous', () => {
    // Thrown by ioredis' Pipeline#exec before anything is sent (built/Pipeline.js).
    const raw = new Error('All keys in the pipeline should belong to the same slots allocation group')
    assert.ok(isTransientFailure(raw), 'retry() tries the raw error again')
    const error = translateError(raw, 'store.setMany')
    assert.ok(error instanceof CommandError, String(error))
    assert.match(error.message, /^store\.setMany failed: a slot moved while the call was under way/)
    assert.ok(isRedirection(error))
    assert.ok(isTransient(error), 'operations retry it, grouping the keys again (SPEC §8)')
    assert.equal(isAmbiguous(error), false, 'nothing was sent')
  })

  test('what repeating cannot fix stays fatal, however deep, and a cause cycle ends', () => {
    const wrongType = translateError(new ReplyError('WRONGTYPE Operation'), 'streams.consume', 'g')
    assert.equal(isTransient(wrongType), false)
    assert.equal(isPassing(wrongType), false)
    // A reply that merely mentions MOVED is not one.
    const mention = translateError(new ReplyError("ERR unknown command 'MOVED 1 x'"), 'store.get', 'k')
    assert.equal(isTransient(mention), false)
    assert.equal(isRedirection(mention), false)
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    a.cause = b
    assert.equal(isRedirection(a), false)
  })
})

/** A consume backend whose reclaim meets a storm `storms` times, then hands out one entry. */
function stormyBackend(storm: () => Error, failures: number) {
  const acked: string[] = []
  let claims = 0
  const entry: ClaimedEntry = { id: '1-0', fields: ['env', '{"n":1}'], deliveries: 1 }
  const backend = {
    createGroup: async () => {},
    claim: async (): Promise<ClaimResult> => {
      if (claims++ < failures) throw storm()
      return { next: '0-0', entries: claims === failures + 1 ? [entry] : [] }
    },
    readGroup: (...args: unknown[]) =>
      new Promise<ClaimedEntry[]>((resolve) => {
        const signal = args[6] as AbortSignal
        signal.addEventListener('abort', () => resolve([]), { once: true })
      }),
    ack: async (_key: string, _group: string, ids: readonly string[]) => void acked.push(...ids),
    release: async () => {},
    loopFailed: () => {},
  }
  return { backend: backend as unknown as StreamBackend, acked }
}

test('consume rides out a redirection storm, backing off, and goes on consuming', async () => {
  for (const [client, storm] of Object.entries(storms)) {
    const { backend, acked } = stormyBackend(storm, 2)
    const controller = new AbortController()
    const errors: unknown[] = []
    const handled: string[] = []
    const loop = new ConsumerLoop({
      backend,
      key: 'events',
      group: 'g',
      consumer: 'c',
      handle: (d) => {
        handled.push(d.id)
        controller.abort()
      },
      runUserCode: (code) => code(),
      batch: 10,
      minIdle: 60_000,
      maxDeliveries: 3,
      concurrency: 1,
      deadLetter: async () => {},
      onError: (error) => void errors.push(error),
      trace: { namespace: 'ns', topology: 'cluster' },
      signal: controller.signal,
    })
    await loop.run()
    assert.deepEqual(handled, ['1-0'], client)
    assert.deepEqual(acked, ['1-0'], client)
    // A slot moving is no failure to report from each loop (src/loops.ts quietOutages); one
    // that outlasts QUIET_OUTAGE_LIMIT is (test/unit/loops.test.ts).
    assert.deepEqual(errors, [], client)
  }
})
