/**
 * The consumer loop on a scripted backend: what it reads, claims, acks, releases and
 * dead-letters, and how it meets failures, with nothing else in between (the contract suite
 * proves the backends themselves).
 */
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import {
  CommandError,
  ConnectionError,
  replyError,
  TimeoutError,
  translateError,
  WRONGTYPE,
} from '../../src/errors.ts'
import type { ClaimedEntry, ClaimResult, StreamBackend } from '../../src/streams/backend.ts'
import { BLOCK_INTERVAL, ConsumerLoop, type ConsumerSettings } from '../../src/streams/consumer.ts'
import type { Delivery, Envelope } from '../../src/streams/entry.ts'

function entry(id: string, envelope: Envelope = { n: id }, deliveries = 1): ClaimedEntry {
  return { id, fields: ['env', JSON.stringify(envelope)], deliveries }
}

type Step<T> = T | Error | ((signal: AbortSignal) => Promise<T>)

/**
 * A backend that answers readGroup and claim from scripts, one step per call (an array of
 * entries, an error to throw, or a function), and records every call. Once a script is used
 * up, a read finds nothing after blocking its time and a claim finds nothing at once.
 */
class ScriptedBackend {
  readonly calls: string[] = []
  readonly reads: Step<ClaimedEntry[]>[] = []
  readonly claims: Step<ClaimResult>[] = []
  readonly acked: string[] = []
  readonly released: string[] = []
  readonly blocks: number[] = []
  readonly readAcks: string[][] = []
  createGroupFails: Error[] = []
  ackFails: Error[] = []
  releaseFails: Error | undefined
  groups = 0
  /** What createGroup answers: true, the group was made; false, another consumer had made it. */
  made = true
  /** What the loop told of its failures (a stale slot map is re-read after some). */
  readonly failures: unknown[] = []

  loopFailed(error: unknown): void {
    this.failures.push(error)
  }

  async createGroup(): Promise<boolean> {
    this.calls.push('createGroup')
    const failure = this.createGroupFails.shift()
    if (failure) throw failure
    this.groups++
    return this.made
  }

  async readGroup(
    _key: string,
    _group: string,
    _consumer: string,
    _count: number,
    block: number,
    acks: readonly string[],
    signal: AbortSignal,
  ): Promise<ClaimedEntry[]> {
    this.calls.push('readGroup')
    this.blocks.push(block)
    this.readAcks.push([...acks])
    const step = this.reads.shift()
    if (step instanceof Error) throw step
    this.acked.push(...acks)
    if (typeof step === 'function') return step(signal)
    if (step) return step
    // Nothing scripted: an empty read that blocked its time (or was ended by the stop).
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve([]), block)
      const stop = () => {
        clearTimeout(timer)
        resolve([])
      }
      signal.addEventListener('abort', stop, { once: true })
    })
  }

  async claim(): Promise<ClaimResult> {
    this.calls.push('claim')
    const step = this.claims.shift()
    if (step instanceof Error) throw step
    if (typeof step === 'function') return step(new AbortController().signal)
    return step ?? { next: '0-0', entries: [] }
  }

  async ack(_key: string, _group: string, ids: readonly string[]): Promise<void> {
    this.calls.push(`ack ${ids.join(',')}`)
    const failure = this.ackFails.shift()
    if (failure) throw failure
    this.acked.push(...ids)
  }

  async release(
    _key: string,
    _group: string,
    _consumer: string,
    entries: readonly ClaimedEntry[],
  ): Promise<void> {
    this.calls.push('release')
    if (this.releaseFails) throw this.releaseFails
    this.released.push(...entries.map((e) => e.id))
  }
}

interface Run {
  backend: ScriptedBackend
  handled: string[]
  deadLetters: Envelope[]
  errors: unknown[]
  controller: AbortController
  done: Promise<void>
}

/** Starts a loop on `backend`; `settings` overrides any part. */
function start(backend: ScriptedBackend, settings: Partial<ConsumerSettings> = {}): Run {
  const controller = new AbortController()
  const run: Omit<Run, 'done'> = { backend, handled: [], deadLetters: [], errors: [], controller }
  const loop = new ConsumerLoop({
    backend: backend as unknown as StreamBackend,
    key: 'stream',
    group: 'g',
    consumer: 'c',
    handle: (delivery: Delivery) => void run.handled.push(delivery.id),
    // No fleet closes from inside a handler here.
    runUserCode: (code) => code(),
    batch: 10,
    minIdle: 60_000,
    maxDeliveries: 3,
    concurrency: 1,
    deadLetter: async (record) => void run.deadLetters.push(record as unknown as Envelope),
    onError: (error) => void run.errors.push(error),
    trace: { namespace: 'ns', topology: 'memory' },
    signal: controller.signal,
    ...settings,
  })
  return { ...run, done: loop.run() }
}

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve))
}

/** Stops the loop once `condition` holds and waits for it to return. */
async function stopWhen(run: Run, condition: () => boolean): Promise<void> {
  await until(condition)
  run.controller.abort()
  await run.done
}

test('creates the group, claims first, then reads; handled entries are acked with the next read', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0'), entry('2-0')])
  const run = start(backend)
  await stopWhen(run, () => backend.readAcks.length === 2)
  assert.deepEqual(backend.calls.slice(0, 3), ['createGroup', 'claim', 'readGroup'])
  assert.deepEqual(run.handled, ['1-0', '2-0'])
  assert.deepEqual(backend.readAcks, [[], ['1-0', '2-0']], 'acks travel with the next read')
  assert.deepEqual(backend.acked, ['1-0', '2-0'])
  assert.equal(backend.groups, 1, 'the group is created once')
  assert.ok(!backend.calls.includes('release'), 'every entry started: nothing to hand back')
})

test('a read blocks at most BLOCK_INTERVAL, and never past the next reclaim', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([], [])
  const slow = start(backend)
  await stopWhen(slow, () => backend.blocks.length === 3)
  for (const block of backend.blocks) assert.ok(block <= BLOCK_INTERVAL && block >= 1, `block ${block}`)
  assert.equal(backend.blocks[0], BLOCK_INTERVAL, 'reclaims every 2 s: the first read blocks a full interval')
  const fast = new ScriptedBackend()
  fast.reads.push([])
  const quick = start(fast, { minIdle: 100 })
  await stopWhen(quick, () => fast.blocks.length === 2)
  assert.ok(fast.blocks[0]! <= 50 && fast.blocks[0]! >= 1, `reclaims every 50 ms: block ${fast.blocks[0]}`)
})

test('a reclaim pass goes on at once until the cursor is back at the start, acking before each claim', async () => {
  const backend = new ScriptedBackend()
  backend.claims.push(
    { next: '5-0', entries: [entry('1-0', { n: 1 }, 2)] },
    { next: '0-0', entries: [entry('6-0', { n: 6 }, 2)] },
  )
  const run = start(backend)
  await stopWhen(run, () => backend.calls.includes('readGroup'))
  // The ack goes before the next claim: a handled entry still pending would be claimed again.
  assert.deepEqual(backend.calls.slice(0, 5), ['createGroup', 'claim', 'ack 1-0', 'claim', 'readGroup'])
  assert.deepEqual(run.handled, ['1-0', '6-0'])
  assert.deepEqual(backend.readAcks[0], ['6-0'])
})

test('on stop the acks still waiting are flushed; a failed flush is reported', async () => {
  for (const fails of [false, true]) {
    const backend = new ScriptedBackend()
    backend.reads.push([entry('1-0')])
    if (fails) backend.ackFails.push(new ConnectionError('connection lost'))
    let run: Run | undefined
    // The stop comes while the entry is handled: its ack is still waiting when the loop ends.
    run = start(backend, { handle: () => run?.controller.abort() })
    await run.done
    assert.equal(backend.calls.at(-1), 'ack 1-0', fails ? 'failing' : 'passing')
    assert.deepEqual(backend.acked, fails ? [] : ['1-0'])
    assert.equal(run.errors.length, fails ? 1 : 0)
  }
})

test('an entry redfleet did not write is acked without calling the handler', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([{ id: '1-0', fields: ['other', 'x'], deliveries: 1 }, entry('2-0')])
  const run = start(backend)
  await stopWhen(run, () => backend.acked.length === 2)
  assert.deepEqual(run.handled, ['2-0'])
  assert.deepEqual(backend.acked, ['1-0', '2-0'])
})

test('a failing handler leaves the entry pending until its last delivery, then dead-letters it', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0', { n: 1 }, 2)])
  backend.claims.push({ next: '0-0', entries: [entry('2-0', { n: 2 }, 3)] })
  const run = start(backend, {
    handle: () => {
      throw new Error('handler broke')
    },
  })
  await stopWhen(run, () => backend.readAcks.length === 2)
  assert.equal(run.deadLetters.length, 1)
  const [record] = run.deadLetters as unknown as [
    { id: string; group: string; error: string; deliveries: number; envelope: Envelope; deadAt: number },
  ]
  assert.equal(record.id, '2-0')
  assert.equal(record.group, 'g')
  assert.equal(record.error, 'handler broke')
  assert.equal(record.deliveries, 3)
  assert.deepEqual(record.envelope, { n: 2 })
  assert.equal(typeof record.deadAt, 'number')
  assert.deepEqual(backend.acked, ['2-0'], 'the dead-lettered entry is acked; the other stays pending')
})

test('a rejecting async handler is a failure too; a resolving one is acked', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0', { ok: true }, 3), entry('2-0', { ok: false }, 3)])
  const run = start(backend, {
    handle: async (delivery) => {
      if (!delivery.envelope.ok) throw new Error('async broke')
    },
  })
  await stopWhen(run, () => backend.readAcks.length === 2)
  assert.deepEqual(
    run.deadLetters.map((r) => [r.id, r.error]),
    [['2-0', 'async broke']],
  )
  assert.deepEqual(backend.acked, ['1-0', '2-0'])
})

test('an entry delivered more than maxDeliveries times is dead-lettered without running the handler', async () => {
  const backend = new ScriptedBackend()
  backend.claims.push({ next: '0-0', entries: [entry('1-0', { n: 1 }, 4)] })
  const run = start(backend)
  await stopWhen(run, () => run.deadLetters.length === 1)
  assert.deepEqual(run.handled, [])
  const record = run.deadLetters[0] as unknown as { error: string; deliveries: number }
  assert.equal(record.error, 'delivered 3 times without being acknowledged')
  assert.equal(record.deliveries, 3)
})

test('a failed dead letter is reported and the entry stays pending', async () => {
  const backend = new ScriptedBackend()
  backend.claims.push({ next: '0-0', entries: [entry('1-0', { n: 1 }, 4)] })
  const failure = new ConnectionError('dead-letter stream unreachable')
  const run = start(backend, {
    deadLetter: async () => {
      throw failure
    },
  })
  await stopWhen(run, () => run.errors.length === 1)
  assert.ok(run.errors[0] instanceof ConnectionError)
  assert.deepEqual(backend.acked, [])
})

test('a dead letter whose channel holds another type ends the loop with that error; the rest of the batch is handed back', async () => {
  const backend = new ScriptedBackend()
  backend.claims.push({ next: '0-0', entries: [entry('1-0', { n: 1 }, 4), entry('2-0', { n: 2 }, 4)] })
  const wrongType = translateError(replyError(WRONGTYPE), 'streams.consume deadLetter', 'g:dead')
  let tries = 0
  const run = start(backend, {
    deadLetter: async () => {
      tries++
      throw wrongType
    },
  })
  await assert.rejects(run.done, (error) => error === wrongType)
  assert.equal(tries, 1)
  assert.deepEqual(backend.released, ['2-0'])
  assert.deepEqual(backend.acked, [])
})

test('a dead letter refused for a while (OOM) is reported and the loop goes on with the next entry', async () => {
  // helper-262: OOM passes once memory is freed; it must not end the loop for good. The channel
  // of a group named WRONGTYPE (helper-266: its name in the message ended the loop).
  const backend = new ScriptedBackend()
  backend.claims.push({ next: '0-0', entries: [entry('1-0', { n: 1 }, 4), entry('2-0', { n: 2 }, 4)] })
  const oom = translateError(
    replyError('OOM command not allowed when used memory > maxmemory'),
    'streams.consume deadLetter',
    'WRONGTYPE:dead',
  )
  const written: string[] = []
  const run = start(backend, {
    deadLetter: async (record) => {
      if (record.id === '1-0') throw oom
      written.push(record.id)
    },
  })
  await stopWhen(run, () => written.length === 1)
  assert.deepEqual(run.errors, [oom])
  assert.deepEqual(backend.acked, ['2-0'], 'the refused one stays pending for the next reclaim')
})

test('a handler that failed past minIdle looks for an earlier dead letter: another consumer may have reclaimed its entry meanwhile', async () => {
  // helper-266: the reclaimer saw it over the limit and wrote a dead letter, then this one did.
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0', { n: 1 }, 3)])
  const written: [string, boolean][] = []
  const minIdle = 10
  const run = start(backend, {
    minIdle,
    // The entry's idle time is what passes here: a wait is the thing under test.
    handle: () => new Promise((_, reject) => setTimeout(() => reject(new Error('slow poison')), minIdle + 2)),
    deadLetter: async (record, lookFirst) => void written.push([record.id, lookFirst]),
  })
  await stopWhen(run, () => written.length === 1)
  assert.deepEqual(written, [['1-0', true]])
})

test('a first dead letter is written as it is; one of an entry reclaimed over the limit is looked for first', async () => {
  // A consumer that died between writing a dead letter and acking its entry leaves the entry
  // over the limit: the next one's record may be there already (helper-258).
  const backend = new ScriptedBackend()
  backend.claims.push({ next: '0-0', entries: [entry('1-0', { n: 1 }, 3), entry('2-0', { n: 2 }, 4)] })
  const written: [string, boolean][] = []
  const run = start(backend, {
    handle: () => {
      throw new Error('poison')
    },
    deadLetter: async (record, lookFirst) => void written.push([record.id, lookFirst]),
  })
  await stopWhen(run, () => written.length === 2)
  assert.deepEqual(written, [
    ['1-0', false],
    ['2-0', true],
  ])
})

test('at most `concurrency` handlers run at once, started in id order', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push(Array.from({ length: 6 }, (_, i) => entry(`${i + 1}-0`)))
  let running = 0
  let most = 0
  const started: string[] = []
  const run = start(backend, {
    concurrency: 2,
    handle: async (delivery) => {
      started.push(delivery.id)
      most = Math.max(most, ++running)
      await new Promise((resolve) => setImmediate(resolve))
      running--
    },
  })
  await stopWhen(run, () => backend.acked.length === 6)
  assert.equal(most, 2)
  assert.deepEqual(started, ['1-0', '2-0', '3-0', '4-0', '5-0', '6-0'])
})

test('on stop, entries never started are handed back; the running handler finishes and is acked', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0'), entry('2-0'), entry('3-0')])
  let finish!: () => void
  const started: string[] = []
  const run = start(backend, {
    handle: (delivery) => {
      started.push(delivery.id)
      return new Promise<void>((resolve) => (finish = resolve))
    },
  })
  await until(() => started.length === 1)
  run.controller.abort()
  finish()
  await run.done
  assert.deepEqual(started, ['1-0'])
  assert.deepEqual(backend.released, ['2-0', '3-0'])
  assert.deepEqual(backend.acked, ['1-0'], 'flushed on the way out')
})

test('after a full batch the next read leaves before its handlers run; a stop hands that read back too', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0'), entry('2-0')], [entry('3-0'), entry('4-0')], [entry('5-0')])
  const finishes: (() => void)[] = []
  const started: string[] = []
  const run = start(backend, {
    batch: 2,
    handle: (delivery) => {
      started.push(delivery.id)
      return new Promise<void>((resolve) => finishes.push(resolve))
    },
  })
  // The first batch was full: the second read is out while 1-0's handler still runs.
  await until(() => started.length === 1 && backend.blocks.length === 2)
  assert.equal(backend.blocks[1], 1, 'a read ahead only takes what is there (BLOCK 1)')
  assert.deepEqual(backend.readAcks[1], [], 'nothing was handled yet')
  finishes.shift()!()
  await until(() => started.length === 2)
  finishes.shift()!()
  // Its batch was full too: the third read leaves with the first batch's acks.
  await until(() => started.length === 3 && backend.readAcks.length === 3)
  assert.deepEqual(backend.readAcks[2], ['1-0', '2-0'])
  run.controller.abort()
  finishes.shift()!()
  await run.done
  assert.deepEqual(started, ['1-0', '2-0', '3-0'])
  // 4-0 was never started; 5-0 came by the read ahead in flight at the stop: both handed back.
  assert.deepEqual(backend.released, ['4-0', '5-0'])
  assert.deepEqual(backend.acked, ['1-0', '2-0', '3-0'], 'acked once each, the last on the way out')
  assert.deepEqual(run.errors, [])
})

test('a batch that is not full reads no further ahead', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0')])
  let finish!: () => void
  const run = start(backend, { batch: 2, handle: () => new Promise<void>((resolve) => (finish = resolve)) })
  await until(() => finish !== undefined)
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(backend.blocks.length, 1, 'one read while the handler runs')
  finish()
  await stopWhen(run, () => backend.blocks.length === 2)
  assert.notEqual(backend.blocks[1], 1, 'the next read blocks as usual')
})

test('a failed hand-back is reported', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push([entry('1-0'), entry('2-0')])
  backend.releaseFails = new ConnectionError('connection lost')
  let finish!: () => void
  const run = start(backend, { handle: () => new Promise<void>((resolve) => (finish = resolve)) })
  await until(() => finish !== undefined)
  run.controller.abort()
  finish()
  await run.done
  assert.equal(run.errors.length, 1)
  assert.ok(run.errors[0] instanceof ConnectionError)
})

test('an outage is reported once and ridden out; the loop goes on when it passes', async () => {
  const backend = new ScriptedBackend()
  const slow = new TimeoutError('no reply')
  backend.reads.push(slow, slow, [entry('1-0')])
  const run = start(backend)
  await stopWhen(run, () => run.handled.length === 1)
  assert.equal(run.errors.length, 1, 'the same outage is reported once')
  assert.ok(run.errors[0] instanceof TimeoutError)
  // Each failure told to the backend, which re-reads a cluster's slot map after a timeout: the
  // master that got no reply may have been taken over.
  assert.equal(backend.failures.length, 2)
  assert.ok(backend.failures.every((failure) => failure instanceof TimeoutError))
})

test('a lost connection is ridden out unreported: its node going down is the fleet’s to announce', async () => {
  const backend = new ScriptedBackend()
  const lost = new ConnectionError('connection lost')
  backend.reads.push(lost, [entry('1-0')], lost, [entry('2-0')])
  const run = start(backend)
  await stopWhen(run, () => run.handled.length === 2)
  assert.deepEqual(run.errors, [])
})

test('a lost group is created again, from the stream’s start, and the loop goes on', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push(new CommandError("NOGROUP No such key 'stream' or consumer group 'g'"), [entry('1-0')])
  const run = start(backend)
  await stopWhen(run, () => run.handled.length === 1)
  assert.equal(backend.groups, 2)
  assert.equal(run.errors.length, 1, 'reported: its entries are delivered again')
  assert.match(String(run.errors[0]), /NOGROUP/)
})

test('a lost group made again by another consumer first is reported by that one, not by each', async () => {
  const backend = new ScriptedBackend()
  backend.reads.push(new CommandError("NOGROUP No such key 'stream' or consumer group 'g'"), [entry('1-0')])
  const run = start(backend)
  backend.made = false
  await stopWhen(run, () => run.handled.length === 1)
  assert.equal(backend.groups, 2)
  assert.deepEqual(run.errors, [])
})

test('a command error ends the loop with that error, after flushing its acks', async () => {
  const backend = new ScriptedBackend()
  backend.claims.push({ next: '0-0', entries: [entry('1-0')] })
  backend.reads.push(new CommandError('WRONGTYPE Operation against a key holding the wrong kind of value'))
  const run = start(backend)
  await assert.rejects(run.done, /WRONGTYPE/)
  assert.deepEqual(backend.acked, ['1-0'])
  assert.deepEqual(run.errors, [])
})

test('a failure when creating the group is retried like any outage', async () => {
  const backend = new ScriptedBackend()
  backend.createGroupFails.push(new TimeoutError('no reply'))
  backend.reads.push([entry('1-0')])
  const run = start(backend)
  await stopWhen(run, () => run.handled.length === 1)
  assert.equal(backend.calls.filter((c) => c === 'createGroup').length, 2)
  assert.equal(run.errors.length, 1)
})

test('a stop during a failing call ends the loop quietly', async () => {
  const backend = new ScriptedBackend()
  const controller = new AbortController()
  backend.reads.push(async () => {
    controller.abort()
    throw new CommandError('WRONGTYPE late')
  })
  const run = start(backend, { signal: controller.signal })
  await run.done
  assert.deepEqual(run.errors, [])
})

test('each handled delivery is traced on redfleet:streams:consume with its group and id', async () => {
  const seen: Record<string, unknown>[] = []
  const onStart = (message: unknown) => void seen.push({ ...(message as Record<string, unknown>) })
  subscribe('tracing:redfleet:streams:consume:start', onStart)
  try {
    const backend = new ScriptedBackend()
    backend.reads.push([entry('1-0')])
    const run = start(backend)
    await stopWhen(run, () => backend.acked.length === 1)
    assert.deepEqual(run.handled, ['1-0'])
    assert.equal(seen.length, 1)
    assert.deepEqual(seen[0], {
      namespace: 'ns',
      topology: 'memory',
      channel: 'events',
      group: 'g',
      consumer: 'c',
      id: '1-0',
    })
  } finally {
    unsubscribe('tracing:redfleet:streams:consume:start', onStart)
  }
})
