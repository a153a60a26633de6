import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { after, test } from 'node:test'
import { createFleet } from '../../src/index.ts'

/**
 * SPEC §11: every public operation of every primitive is traced on its TracingChannel
 * `redfleet:<primitive>:<method>`, with `{ namespace, topology, key | keys | channel | group }`,
 * its result on asyncEnd (what the call resolves with) or its error, and no value in the context.
 */
const fleet = createFleet({ namespace: 'tel-every' })
after(() => fleet.close())

const SECRET = 'secret-value-never-traced'
const store = fleet.store()
const cache = fleet.cache()
const broker = fleet.broker({ channel: 'news' })
const presence = fleet.presence()
const streams = fleet.streams()
const membership = fleet.membership()
const tracker = fleet.tracker()

/** Aborts once the call has begun: for the calls that run until their signal aborts. */
function abortedSoon(): AbortSignal {
  const controller = new AbortController()
  queueMicrotask(() => controller.abort())
  return controller.signal
}

interface Row {
  channel: string
  call: () => Promise<unknown>
  /** Fields the start context must carry (besides namespace and topology). */
  expect: Record<string, unknown>
  /** The call fails: an error event instead of a result. */
  fails?: boolean
}

const rows: Row[] = [
  { channel: 'store:get', call: () => store.get('k'), expect: { key: 'k' } },
  { channel: 'store:set', call: () => store.set('k', SECRET), expect: { key: 'k' } },
  { channel: 'store:delete', call: () => store.delete('k'), expect: { key: 'k' } },
  { channel: 'store:setIfNotExists', call: () => store.setIfNotExists('k', SECRET), expect: { key: 'k' } },
  { channel: 'store:increment', call: () => store.increment('n', 2), expect: { key: 'n' } },
  { channel: 'store:update', call: () => store.update('k', () => SECRET), expect: { key: 'k' } },
  { channel: 'store:getMany', call: () => store.getMany(['a', 'b']), expect: { keys: ['a', 'b'] } },
  {
    channel: 'store:setMany',
    call: () =>
      store.setMany([
        ['a', SECRET],
        ['b', SECRET],
      ]),
    expect: { keys: ['a', 'b'] },
  },
  { channel: 'store:get', call: () => store.get(''), expect: {}, fails: true },

  { channel: 'cache:read', call: () => cache.read('c'), expect: {} },
  { channel: 'cache:write', call: () => cache.write('c', SECRET), expect: {} },
  { channel: 'cache:fetch', call: () => cache.fetch('f', () => SECRET), expect: {} },
  { channel: 'cache:exist', call: () => cache.exist('c'), expect: {} },
  { channel: 'cache:delete', call: () => cache.delete('c'), expect: {} },
  { channel: 'cache:readMulti', call: () => cache.readMulti(['a', 'b']), expect: {} },
  { channel: 'cache:writeMulti', call: () => cache.writeMulti({ a: SECRET }), expect: {} },
  { channel: 'cache:fetchMulti', call: () => cache.fetchMulti(['a'], {}, () => SECRET), expect: {} },
  { channel: 'cache:deleteMulti', call: () => cache.deleteMulti(['a']), expect: {} },
  { channel: 'cache:increment', call: () => cache.increment('i'), expect: {} },
  { channel: 'cache:decrement', call: () => cache.decrement('i'), expect: {} },
  { channel: 'cache:readCounter', call: () => cache.readCounter('i'), expect: {} },
  { channel: 'cache:writeCounter', call: () => cache.writeCounter('i', 7), expect: {} },
  { channel: 'cache:deleteMatched', call: () => cache.deleteMatched('x*'), expect: {} },
  { channel: 'cache:invalidateTag', call: () => cache.invalidateTag('t'), expect: {} },
  { channel: 'cache:clear', call: () => cache.clear(), expect: {} },
  { channel: 'cache:read', call: () => cache.read(''), expect: {}, fails: true },

  { channel: 'broker:publish', call: () => broker.publish(SECRET), expect: { channel: 'news' } },
  {
    channel: 'broker:subscribe',
    call: async () => {
      const unsubscribe = broker.subscribe(() => {})
      unsubscribe()
    },
    expect: { channel: 'news' },
  },
  { channel: 'broker:ready', call: () => broker.ready(), expect: { channel: 'news' } },
  { channel: 'presence:publish', call: () => presence.publish('room', SECRET), expect: { channel: 'room' } },
  {
    channel: 'presence:subscribe',
    call: () => presence.subscribe('room', () => {}, { signal: AbortSignal.abort() }),
    expect: { channel: 'room' },
  },

  {
    channel: 'streams:publish',
    call: () => streams.publish({ s: SECRET }, ['ch']),
    expect: { channel: 'events' },
  },
  {
    channel: 'streams:publishToChannel',
    call: () => streams.publishToChannel('ch', { s: SECRET }),
    expect: { channel: 'ch' },
  },
  { channel: 'streams:readRange', call: () => streams.readRange('ch'), expect: { channel: 'ch' } },
  {
    channel: 'streams:tail',
    call: () => streams.tail('ch', undefined, () => {}, { signal: abortedSoon() }),
    expect: { channel: 'ch' },
  },
  {
    channel: 'streams:tailEvents',
    call: () => streams.tailEvents(() => {}, { signal: abortedSoon() }),
    expect: { channel: 'events' },
  },
  { channel: 'streams:ensureGroup', call: () => streams.ensureGroup('g'), expect: { group: 'g' } },
  {
    channel: 'streams:consume',
    call: () => streams.consume('g2', 'c1', () => {}, { signal: abortedSoon() }),
    expect: { group: 'g2', consumer: 'c1' },
  },
  { channel: 'streams:groupLag', call: () => streams.groupLag('g'), expect: { group: 'g' } },

  { channel: 'membership:heartbeat', call: () => membership.heartbeat('m1'), expect: { member: 'm1' } },
  { channel: 'membership:live', call: () => membership.live(), expect: {} },
  { channel: 'membership:owner', call: () => membership.owner('job'), expect: { key: 'job' } },
  { channel: 'membership:send', call: () => membership.send('m1', SECRET), expect: { member: 'm1' } },
  { channel: 'membership:leave', call: () => membership.leave('m1'), expect: { member: 'm1' } },
  {
    channel: 'membership:join',
    call: () => membership.join('m2').stop(),
    expect: { member: 'm2' },
  },
  {
    channel: 'membership:inbox',
    call: async () => {
      for await (const _ of membership.inbox('m1', { signal: abortedSoon() })) break
    },
    expect: { member: 'm1' },
  },

  { channel: 'tracker:start', call: () => tracker.start(), expect: {} },
  { channel: 'tracker:track', call: () => tracker.track('j1', SECRET, async () => 1), expect: { job: 'j1' } },
  { channel: 'tracker:inFlight', call: () => tracker.inFlight(), expect: {} },
  { channel: 'tracker:instances', call: () => tracker.instances(), expect: {} },
  { channel: 'tracker:orphans', call: () => tracker.orphans(), expect: {} },
  { channel: 'tracker:recoverOrphans', call: () => tracker.recoverOrphans(() => {}), expect: {} },
  { channel: 'tracker:stop', call: () => tracker.stop(), expect: {} },
]

interface Seen {
  kind: 'start' | 'asyncEnd' | 'error'
  /** The context as it was when the event was published. */
  context: Record<string, unknown>
}

/** Runs `call` with the TracingChannel `name` subscribed; what it saw, in order. */
async function observe(
  name: string,
  call: () => Promise<unknown>,
): Promise<{ seen: Seen[]; outcome: unknown }> {
  const channel = diagnosticsChannel.tracingChannel(name)
  const seen: Seen[] = []
  const record = (kind: Seen['kind']) => (message: unknown) =>
    seen.push({ kind, context: { ...(message as Record<string, unknown>) } })
  const handlers = {
    start: record('start'),
    end() {},
    asyncStart() {},
    asyncEnd: record('asyncEnd'),
    error: record('error'),
  }
  channel.subscribe(handlers)
  let outcome: unknown
  try {
    outcome = await call().catch((error: unknown) => ({ failed: error }))
  } finally {
    channel.unsubscribe(handlers)
  }
  return { seen, outcome }
}

for (const row of rows) {
  test(`redfleet:${row.channel} traces ${JSON.stringify(row.expect)}${row.fails ? ' (failing)' : ''}`, async () => {
    const { seen, outcome } = await observe(`redfleet:${row.channel}`, row.call)
    const start = seen.find((event) => event.kind === 'start')
    assert.ok(start, `no start event on redfleet:${row.channel}`)
    assert.match(String(start.context.namespace), /^tel-every(:|$)/)
    assert.equal(start.context.topology, 'memory')
    for (const [field, value] of Object.entries(row.expect)) {
      assert.deepEqual(start.context[field], value, `${row.channel}: context.${field}`)
    }
    assert.ok(!JSON.stringify(start.context).includes(SECRET), `${row.channel} puts a value in its context`)
    const ended = seen.find((event) => event.kind === 'asyncEnd')
    assert.ok(ended, `no asyncEnd on redfleet:${row.channel}`)
    if (row.fails) {
      assert.ok(
        seen.some((event) => event.kind === 'error'),
        `no error event on redfleet:${row.channel}`,
      )
      assert.ok((outcome as { failed?: unknown }).failed !== undefined)
    } else {
      assert.ok(!seen.some((event) => event.kind === 'error'), `an error on redfleet:${row.channel}`)
      assert.deepEqual(ended.context.result, outcome, `${row.channel}: result is what the call resolves with`)
    }
  })
}

test('a consumed delivery is traced on redfleet:streams:consume with its group, consumer and id', async () => {
  await streams.ensureGroup('g3')
  const id = await streams.publish({ s: SECRET })
  const controller = new AbortController()
  const { seen } = await observe('redfleet:streams:consume', () =>
    streams.consume('g3', 'c1', (d) => (d.id === id ? controller.abort() : undefined), {
      signal: controller.signal,
    }),
  )
  const delivery = seen.find((event) => event.kind === 'start' && event.context.id === id)
  assert.ok(delivery, 'no per-delivery trace')
  assert.equal(delivery.context.id, id)
  assert.equal(delivery.context.group, 'g3')
  assert.equal(delivery.context.consumer, 'c1')
  assert.ok(!JSON.stringify(delivery.context).includes(SECRET))
  assert.ok(
    seen.some((event) => event.kind === 'start' && event.context.id === undefined),
    'no trace of the call',
  )
})

// docs/telemetry.md: a cache call's context names its method and (normalised) key(s) from `end`
// on, as a TracingChannel's own tracePromise publishes `end` once the call has returned its
// promise. They came on asyncEnd only (helper-255).
test('a cache call names its method and key(s) on end, before it settles', async () => {
  const calls: [string, () => Promise<unknown>, Record<string, unknown>][] = [
    ['read', () => cache.read('c'), { key: 'c' }],
    ['write', () => cache.write('c', SECRET), { key: 'c' }],
    ['fetch', () => cache.fetch('f', () => SECRET), { key: 'f' }],
    ['exist', () => cache.exist('c'), { key: 'c' }],
    ['delete', () => cache.delete('c'), { key: 'c' }],
    ['increment', () => cache.increment('i'), { key: 'i' }],
    ['readMulti', () => cache.readMulti(['a', 'b']), { keys: ['a', 'b'] }],
    ['writeMulti', () => cache.writeMulti({ a: SECRET }), { keys: ['a'] }],
    ['fetchMulti', () => cache.fetchMulti(['a'], {}, () => SECRET), { keys: ['a'] }],
    ['deleteMulti', () => cache.deleteMulti(['a']), { keys: ['a'] }],
    ['deleteMatched', () => cache.deleteMatched('x*'), { key: 'x*' }],
    ['invalidateTag', () => cache.invalidateTag('t'), { key: 't' }],
    ['clear', () => cache.clear(), {}],
  ]
  for (const [method, call, named] of calls) {
    const channel = diagnosticsChannel.tracingChannel(`redfleet:cache:${method}`)
    const ends: Record<string, unknown>[] = []
    const handlers = {
      start() {},
      end: (message: unknown) => ends.push({ ...(message as Record<string, unknown>) }),
      asyncStart() {},
      asyncEnd() {},
      error() {},
    }
    channel.subscribe(handlers)
    try {
      const running = call()
      assert.equal(ends.length, 1, `${method}: end is published as the call returns`)
      await running
    } finally {
      channel.unsubscribe(handlers)
    }
    assert.deepEqual(ends[0], { namespace: ends[0]!.namespace, topology: 'memory', method, ...named }, method)
  }
})

test('readCounter and writeCounter are traced under their own names, with their key', async () => {
  const read = await observe('redfleet:cache:read', () => cache.readCounter('counted'))
  assert.equal(read.seen.length, 0, 'readCounter is not a read')
  const { seen } = await observe('redfleet:cache:writeCounter', () => cache.writeCounter('counted', 3))
  assert.equal(seen.find((event) => event.kind === 'asyncEnd')?.context.key, 'counted')
  assert.equal(seen.find((event) => event.kind === 'asyncEnd')?.context.method, 'writeCounter')
})

test('with Redis down, errorHandler receives readCounter / writeCounter as the method (SPEC §3)', async () => {
  // Nothing listens on port 1: every command fails at once (connection refused).
  const down = createFleet({ url: 'redis://127.0.0.1:1', namespace: 'tel-down', retry: { attempts: 1 } })
  try {
    const methods: string[] = []
    const failing = down.cache({ errorHandler: ({ method }) => methods.push(method) })
    assert.equal(await failing.readCounter('x'), undefined)
    assert.equal(await failing.writeCounter('x', 1), false)
    assert.deepEqual(methods, ['readCounter', 'writeCounter'])
  } finally {
    await down.close()
  }
})

test('a broker subscription still open when the fleet closes ends its trace then', async () => {
  const own = createFleet({ namespace: 'tel-close' })
  const ended: unknown[] = []
  const handlers = {
    start() {},
    end() {},
    asyncStart() {},
    asyncEnd: (message: unknown) => void ended.push(message),
    error() {},
  }
  const channel = diagnosticsChannel.tracingChannel('redfleet:broker:subscribe')
  channel.subscribe(handlers)
  try {
    const unsubscribe = own.broker().subscribe(() => {})
    assert.equal(ended.length, 0, 'open while subscribed')
    await own.close()
    assert.equal(ended.length, 1, 'ended by close')
    unsubscribe()
    assert.equal(ended.length, 1, 'ended once')
  } finally {
    channel.unsubscribe(handlers)
  }
})
