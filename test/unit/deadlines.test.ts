import assert from 'node:assert/strict'
import { mock, test } from 'node:test'
import { ConnectionError, TimeoutError, translateError } from '../../src/errors.ts'
import { blocksFor, CommandDeadlines, deadlineClock, processClock } from '../../src/transport/deadlines.ts'
import { connectionDeadlines, timedSend } from '../../src/transport/node-redis.ts'
import { QueuedCommands, withdrawable } from '../../src/transport/node-redis-offline.ts'
import { countWarnings } from '../harness/warnings.ts'

/** A reply that arrives when the test says so. */
function deferred<T>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** A turn of the event loop (not faked): a due deadline fails its commands from a setImmediate. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Whether `promise` has settled once pending reactions have run (fake timers: no real waiting),
 * and a turn of the event loop: a due deadline fails its commands from a setImmediate (not faked),
 * after the sockets are read.
 */
async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let seen: 'pending' | 'resolved' | 'rejected' = 'pending'
  promise.then(
    () => (seen = 'resolved'),
    () => (seen = 'rejected'),
  )
  await turn()
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return seen
}

/** The faked clock stalls of the process are measured on: it moves only when a test stalls. */
let processTime = 0

/** The process stalls `ms` (a reply handler, a GC pause): no timer runs meanwhile. */
function stall(ms: number): void {
  processTime += ms
  mock.timers.setTime(Date.now() + ms)
}

/**
 * Runs `work` with setTimeout, Date and the clock stalls are measured on faked (mock.timers), and
 * real ones again after it: a stall of the process is then one the test makes (stall), never the
 * machine's own (on a loaded machine, a tick preempted for 20 ms moved deadlines on past what the
 * test ticked).
 */
async function withFakeTimers(work: () => Promise<void>): Promise<void> {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] })
  const { now } = processClock
  const deadlinesNow = deadlineClock.now
  processClock.now = () => processTime
  deadlineClock.now = () => Date.now()
  try {
    await work()
  } finally {
    processClock.now = now
    deadlineClock.now = deadlinesNow
    mock.timers.reset()
  }
}

test('CommandDeadlines: a step of the wall clock back does not hold a deadline back by the step', async () => {
  const timeout = 50
  mock.timers.enable({ apis: ['Date'], now: Date.now() })
  try {
    const deadlines = new CommandDeadlines(timeout)
    const sent = deadlines.track(deferred<string>().promise)
    // NTP steps the clock 10 minutes back just after the command was sent to a frozen node.
    mock.timers.setTime(Date.now() - 600_000)
    const outcome = sent.then(
      () => 'resolved',
      () => 'rejected',
    )
    // Real timers: the bound is the timeout many times over, far from the 10 minutes of the step.
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise((resolve) => {
      timer = setTimeout(resolve, timeout * 40, 'still pending')
    })
    assert.equal(await Promise.race([outcome, bound]), 'rejected')
    clearTimeout(timer)
  } finally {
    mock.timers.reset()
  }
})

test('CommandDeadlines: a deadline that passed after its timer fired waits for the next one, after the sockets are read again', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(100)
    const first = deadlines.track(deferred<string>().promise)
    mock.timers.tick(50)
    const reply = deferred<string>()
    const second = deadlines.track(reply.promise)
    // The first one's timer fires; its turn's callbacks stall until past the second's deadline.
    mock.timers.tick(50)
    mock.timers.setTime(Date.now() + 200)
    await assert.rejects(first)
    assert.equal(await state(second), 'pending', 'its reply may be waiting unread: the next poll reads it')
    reply.resolve('OK')
    assert.equal(await second, 'OK')
  }))

test('CommandDeadlines: one timer fails each command at its own deadline, in send order', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(100)
    const answered = deferred<string>()
    const first = deadlines.track(answered.promise)
    const second = deadlines.track(deferred<string>().promise)
    mock.timers.tick(50)
    const third = deadlines.track(deferred<string>().promise)
    answered.resolve('OK')
    assert.equal(await first, 'OK')
    mock.timers.tick(50)
    await assert.rejects(second, (error: unknown) => {
      assert.ok(translateError(error, 'store.get', 'k') instanceof TimeoutError)
      return true
    })
    assert.equal(await state(third), 'pending', 'sent 50 ms later: its deadline is 50 ms later')
    mock.timers.tick(50)
    assert.equal(await state(third), 'rejected')
  }))

test('CommandDeadlines: a command handed over to another connection (MOVED) is failed by that one, as its silence', () =>
  withFakeTimers(async () => {
    const first = new CommandDeadlines(100, () => new Error('no reply from first'))
    const second = new CommandDeadlines(100, () => new Error('no reply from second'))
    const errors: string[] = []
    const command = { isSettled: false, reject: (error: Error) => errors.push(error.message) }
    first.add(command)
    mock.timers.tick(10)
    first.handedOver(command)
    second.add(command)
    mock.timers.tick(100)
    await turn()
    assert.deepEqual(errors, ['no reply from second'])
    assert.equal(first.holding, 0, 'the first connection answered it: it holds nothing')
  }))

test('CommandDeadlines: a WAIT gets its own timeout on top, what is sent behind it waits with it, and nothing after it', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(100)
    const wait = deferred<number>()
    const waiting = deadlines.track(wait.promise, blocksFor('WAIT', ['WAIT', '1', '300'], 1))
    const behind = deferred<string>()
    const queued = deadlines.track(behind.promise)
    mock.timers.tick(150)
    assert.equal(await state(waiting), 'pending', 'a WAIT of 300 ms is not cut off at commandTimeout')
    assert.equal(await state(queued), 'pending', 'a command behind it cannot be answered before it')
    wait.resolve(0)
    behind.resolve('OK')
    assert.equal(await waiting, 0)
    assert.equal(await queued, 'OK')
    const later = deadlines.track(deferred<string>().promise)
    mock.timers.tick(100)
    assert.equal(await state(later), 'rejected', 'once the WAIT has answered, commandTimeout again')
  }))

test('CommandDeadlines: WAITs sent at once block one after another, so each gets its own timeout on top of the one ahead', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(100)
    const replies = [0, 1, 2].map(() => deferred<number>())
    const waits = replies.map((reply) => deadlines.track(reply.promise, 50))
    const behind = deadlines.track(deferred<string>().promise)
    const seen = async () => Promise.all([...waits, behind].map(state))
    // Each WAIT answers just before its deadline: the server blocks on them one at a time.
    mock.timers.tick(149)
    replies[0]!.resolve(0)
    await state(waits[0]!)
    mock.timers.tick(50)
    replies[1]!.resolve(0)
    await state(waits[1]!)
    assert.deepEqual(await seen(), ['resolved', 'resolved', 'pending', 'pending'])
    mock.timers.tick(50)
    assert.deepEqual(await seen(), ['resolved', 'resolved', 'pending', 'pending'])
    mock.timers.tick(2)
    assert.deepEqual(await seen(), ['resolved', 'resolved', 'rejected', 'rejected'])
    for (const failed of [...waits, behind]) await failed.catch(() => undefined)
  }))

test('CommandDeadlines: under steady WAITs a deadline counts from now with the WAITs still ahead, and does not drift', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(1000)
    const pending: { reply: ReturnType<typeof deferred<number>>; sent: Promise<number> }[] = []
    const send = () => {
      const reply = deferred<number>()
      pending.push({ reply, sent: deadlines.track(reply.promise, 400) })
    }
    for (let i = 0; i < 4; i++) send()
    // Each WAIT answers 300 ms after the one ahead, and a new one is sent: 4 always queued. Chained
    // from the deadline ahead, each new deadline lay 100 ms further out than the last.
    for (let step = 0; step < 60; step++) {
      mock.timers.tick(300)
      // A deadline due by now fails its command in this turn, before the reply below.
      await turn()
      const oldest = pending.shift()!
      oldest.reply.resolve(0)
      assert.equal(await oldest.sent, 0, `step ${step}: answered in time`)
      send()
    }
    // The server stops answering: the 4 queued fail within commandTimeout + their 4 allowances.
    mock.timers.tick(1000 + 4 * 400)
    assert.deepEqual(await Promise.all(pending.map(({ sent }) => state(sent))), [
      'rejected',
      'rejected',
      'rejected',
      'rejected',
    ])
    for (const { sent } of pending) await sent.catch(() => undefined)
  }))

test('CommandDeadlines: with 64 WAITs always in flight and answered at once, a server that stops answering fails them within the timeout and one allowance of the last answer', () =>
  withFakeTimers(async () => {
    // Chained, each was given the 63 allowances ahead of it at its sending: 12.6 s (helper-217).
    const deadlines = new CommandDeadlines(100)
    const inFlight: { reply: ReturnType<typeof deferred<number>>; sent: Promise<number> }[] = []
    const send = () => {
      const reply = deferred<number>()
      inFlight.push({ reply, sent: deadlines.track(reply.promise, 200) })
    }
    for (let i = 0; i < 64; i++) send()
    for (let step = 0; step < 500; step++) {
      mock.timers.tick(1)
      await turn()
      const oldest = inFlight.shift()!
      oldest.reply.resolve(1)
      assert.equal(await oldest.sent, 1, `step ${step}: answered in time`)
      send()
    }
    // No more answers.
    mock.timers.tick(299)
    assert.ok((await Promise.all(inFlight.map(({ sent }) => state(sent)))).includes('pending'))
    mock.timers.tick(2)
    assert.deepEqual(
      new Set(await Promise.all(inFlight.map(({ sent }) => state(sent)))),
      new Set(['rejected']),
    )
    for (const { sent } of inFlight) await sent.catch(() => undefined)
  }))

test('CommandDeadlines: once a command got no reply by its deadline, the others are not held behind the WAITs ahead of them', () =>
  withFakeTimers(async () => {
    // A frozen server: 40 WAITs of 200 ms queued, chained, would hold a GET behind them for 16 s.
    const deadlines = new CommandDeadlines(100)
    const waits = Array.from({ length: 40 }, () => deadlines.track(deferred<number>().promise, 300))
    const get = deadlines.track(deferred<string>().promise)
    mock.timers.tick(401)
    assert.deepEqual(new Set(await Promise.all([...waits, get].map(state))), new Set(['rejected']))
    // Sent while it does not answer: its own deadline only.
    const later = deadlines.track(deferred<string>().promise)
    mock.timers.tick(100)
    assert.equal(await state(later), 'rejected')
    // An answer ends the spell: WAITs chain again.
    const answered = deferred<string>()
    const next = deadlines.track(answered.promise)
    answered.resolve('OK')
    await next
    const first = deferred<number>()
    const chained = [first.promise, deferred<number>().promise].map((reply) => deadlines.track(reply, 300))
    mock.timers.tick(399)
    first.resolve(1)
    await state(chained[0]!)
    mock.timers.tick(2)
    assert.deepEqual(await Promise.all(chained.map(state)), ['resolved', 'pending'])
    mock.timers.tick(300)
    assert.equal(await state(chained[1]!), 'rejected')
    for (const failed of [...waits, get, later, ...chained]) await failed.catch(() => undefined)
  }))

test('blocksFor: the timeout of WAIT and WAITAOF (plus the 100 ms a server cron may add), in any case, and nothing for other commands', () => {
  assert.equal(blocksFor('wait', [1, 250], 0), 350)
  assert.equal(blocksFor('WAITAOF', ['WAITAOF', '1', '0', '40'], 1), 140)
  assert.equal(blocksFor('mget', ['a', 'b'], 0), 0)
  assert.equal(blocksFor('get', ['a'], 0), 0)
  assert.equal(blocksFor('WAIT', ['WAIT', '1', 'x'], 1), 0)
})

test('CommandDeadlines: the error of an expired command is the one `expired` makes', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(10, () => new Error('The client is offline'))
    const waiting = deadlines.track(deferred<string>().promise)
    mock.timers.tick(10)
    await assert.rejects(waiting, /The client is offline/)
  }))

/** An ioredis Command as CommandDeadlines sees it. */
function command() {
  const rejected: Error[] = []
  return {
    isSettled: false,
    rejected,
    reject(error: Error) {
      rejected.push(error)
    },
  }
}

test('CommandDeadlines.add: an ioredis command is failed at its deadline unless it settled', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(100)
    const answered = command()
    const waiting = command()
    deadlines.add(answered)
    deadlines.add(waiting)
    answered.isSettled = true
    mock.timers.tick(99)
    await turn()
    assert.equal(waiting.rejected.length, 0)
    mock.timers.tick(1)
    await turn()
    assert.deepEqual(
      waiting.rejected.map((e) => e.message),
      ['Command timed out'],
    )
    assert.equal(answered.rejected.length, 0, 'a settled command is left alone')
  }))

test('CommandDeadlines.add: settled commands are let go as more are sent, before any deadline', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(1000)
    for (let i = 0; i < 5000; i++) {
      const sent = command()
      deadlines.add(sent)
      sent.isSettled = true
    }
    // An ioredis command keeps its reply: each one held would keep its values alive too.
    assert.equal(deadlines.holding, 1, 'only the last one, settled after it was added')
    const late = command()
    deadlines.add(late)
    await turn()
    mock.timers.tick(1001)
    await turn()
    assert.equal(late.rejected.length, 1, 'and still fails the one that did not settle')
  }))

test('CommandDeadlines: commands taken in a tick that stalled reach their write that much later, and get that much longer', () =>
  withFakeTimers(async () => {
    const deadlines = new CommandDeadlines(100)
    const stalled = deadlines.track(deferred<string>().promise)
    // The rest of the tick (a reply handler, a GC pause) runs 50 ms before the client writes it.
    stall(50)
    await turn()
    mock.timers.tick(99)
    assert.equal(await state(stalled), 'pending', 'its 100 ms count from its write')
    mock.timers.tick(1)
    assert.equal(await state(stalled), 'rejected')
    // A tick shorter than a stall (20 ms) moves nothing.
    const busy = deadlines.track(deferred<string>().promise)
    stall(19)
    await turn()
    mock.timers.tick(82)
    assert.equal(await state(busy), 'rejected')
  }))

/** node-redis' own error for an aborted command it had not written (matched by its name). */
class AbortError extends Error {}

/**
 * node-redis' command queue as redfleet meets it: a command waits to be written (no connection
 * ready), an abort before it is written drops it (AbortError), `writeAll` writes what waits.
 */
class NodeRedisQueue {
  readonly waiting = new Set<{ name: string; reject: (error: Error) => void }>()
  readonly written: string[] = []

  sendCommand(args: string[], options: { abortSignal?: AbortSignal } = {}): Promise<unknown> {
    return new Promise((_, reject) => {
      const command = { name: args[0]!, reject }
      this.waiting.add(command)
      options.abortSignal?.addEventListener('abort', () => {
        if (this.waiting.delete(command)) reject(new AbortError('The command was aborted'))
      })
    })
  }

  /** The next connection: what still waits is written (and gets no reply here). */
  writeAll(): void {
    for (const command of this.waiting) this.written.push(command.name)
    this.waiting.clear()
  }
}

/** Keeps the event loop alive while a test waits for a deadline (its timer is unref'd). */
async function held<T>(work: () => Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1000)
  try {
    return await work()
  } finally {
    clearInterval(hold)
  }
}

test('node-redis: a command still queued at its deadline may have been applied (node-redis writes it on its next connection), and is not taken out', () =>
  held(async () => {
    for (const ready of [true, false]) {
      const queue = new NodeRedisQueue()
      const deadlines = connectionDeadlines(
        50,
        () => ready,
        () => '127.0.0.1:1/0',
      )
      const args = ['INCR', 'k']
      // Queued with redfleet's signal (a client with no connection), and handed to a ready client
      // without one (its connection dropped before node-redis wrote it).
      const withSignal = withdrawable(
        new QueuedCommands(),
        args,
        (signal) => queue.sendCommand(args, { abortSignal: signal }),
        {},
      )
      const unsignalled = queue.sendCommand(args)
      for (const sent of [withSignal, unsignalled]) {
        const error = await timedSend(deadlines, sent, args).then(
          () => assert.fail('it resolved'),
          (e: unknown) => e,
        )
        const told = translateError(error, 'store.increment', 'k')
        assert.ok(told instanceof (ready ? TimeoutError : ConnectionError), String(told))
        assert.equal((told as TimeoutError).outcome, 'unknown', `ready: ${ready}`)
        // A timeout names the node that did not answer.
        if (ready) assert.match(told.message, /no reply from 127\.0\.0\.1:1\/0 within 50 ms/)
      }
      queue.writeAll()
      // Taking them out one by one at their deadlines breaks node-redis 5's queue (a linked list
      // whose head removals leave stale links): they stay, and are written in order.
      assert.deepEqual(queue.written, ['INCR', 'INCR'])
    }
  }))

test('node-redis: commands withdrawn (node down, close) go newest first, and fail with the reason given', async () => {
  const queue = new NodeRedisQueue()
  const order: string[] = []
  const queued = new QueuedCommands()
  const owners = [{}, {}]
  const sent = ['A', 'B', 'C'].map((name, i) =>
    withdrawable(
      queued,
      [name],
      (signal) => {
        signal.addEventListener('abort', () => order.push(name))
        return queue.sendCommand([name], { abortSignal: signal })
      },
      owners[i % 2]!,
    ),
  )
  // One owner's only (a fleet letting go of a client others use): C, not A behind another's B
  // (removing A, the head, would leave B's link to it stale, and B's removal would lose the rest).
  // A stays queued; its caller is told at once that it may still be sent.
  queued.withdrawAll((name) => new Error(`${name} let go`), owners[0])
  assert.deepEqual(order, ['C'])
  const left = await sent[0]!.then(String, (e: ConnectionError) => e)
  assert.ok(left instanceof ConnectionError && left.outcome === 'unknown', String(left))
  queued.withdrawAll(() => new Error('down'))
  assert.deepEqual(order, ['C', 'B'])
  const reasons = await Promise.all(sent.slice(1).map((s) => s.then(String, (e: Error) => e.message)))
  assert.deepEqual(reasons, ['down', 'C let go'])
  queue.writeAll()
  assert.deepEqual(queue.written, ['A'])
})

test('CommandDeadlines: a deadline past what a Node timer holds (a long WAIT) is armed without overflowing', async () => {
  const overflows = countWarnings('TimeoutOverflowWarning')
  try {
    const deadlines = new CommandDeadlines(1000)
    const wait = { isSettled: false, reject: () => assert.fail('failed before its deadline') }
    // commandTimeout plus the longest waitFor.timeout: past 2^31 - 1 ms.
    deadlines.add(wait, 2 ** 31 - 1)
    // Node warns as it arms such a timer (emitted on the next tick), and fires it after 1 ms.
    await new Promise(setImmediate)
    wait.isSettled = true
    assert.deepEqual(overflows.messages, [])
  } finally {
    overflows.stop()
  }
})
