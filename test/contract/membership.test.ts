import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ClosedError, CommandError, ConfigError, SerializationError } from '../../src/index.ts'
import { forEachTopology } from '../harness/topologies.ts'
import { rawAccess } from './cache-support.ts'

/** The events of `redfleet:membership:<method>` in `namespace`, as `kind:member`, until `off()`. */
function traceEvents(method: string, namespace: string): { events: string[]; off(): void } {
  const channel = diagnosticsChannel.tracingChannel(`redfleet:membership:${method}`)
  const events: string[] = []
  const on = (kind: string) => (context: unknown) => {
    const { namespace: ns, member } = context as { namespace: string; member: unknown }
    if (ns === namespace) events.push(`${kind}:${String(member)}`)
  }
  const handlers = {
    start: on('start'),
    end: on('end'),
    asyncStart: on('asyncStart'),
    asyncEnd: on('asyncEnd'),
    error: on('error'),
  }
  channel.subscribe(handlers)
  return { events, off: () => channel.unsubscribe(handlers) }
}

/** Reads `count` messages from an async iterable, then stops iterating. */
async function take(iterable: AsyncIterable<unknown>, count: number): Promise<unknown[]> {
  const out: unknown[] = []
  if (count === 0) return out
  for await (const message of iterable) {
    out.push(message)
    if (out.length === count) break
  }
  return out
}

forEachTopology('Membership contract', (env) => {
  test('a ttl of 1e14 ms heartbeats (Lua would write it 1e+14); one past 2^53 - 1 is a ConfigError', async () => {
    const fleet = await env.fleet()
    const members = fleet.withNamespace('long-ttl').membership({ ttl: 1e14 })
    await members.heartbeat('a')
    assert.deepEqual(await members.live(), ['a'])
    assert.throws(() => fleet.membership({ ttl: 1e17 }), { name: 'ConfigError', code: 'ERR_INVALID_OPTION' })
  })

  test('heartbeat makes a member live; live() is sorted; leave removes it at once', async () => {
    const members = (await env.fleet()).withNamespace('basic').membership()
    assert.deepEqual(await members.live(), [])
    for (const id of ['node-c', 'node-a', 'node-b']) await members.heartbeat(id)
    assert.deepEqual(await members.live(), ['node-a', 'node-b', 'node-c'])
    await members.leave('node-b')
    assert.deepEqual(await members.live(), ['node-a', 'node-c'])
    await members.leave('never-joined')
    const other = (await env.fleet()).withNamespace('basic').membership()
    assert.deepEqual(await other.live(), ['node-a', 'node-c'], 'another process sees the same members')
  })

  test('calls made at once: each sees the changes made before it, from any membership of the fleet, in an array of its own', async () => {
    const fleet = (await env.fleet()).withNamespace('at-once')
    const members = fleet.membership()
    const other = fleet.membership()
    for (const id of ['b', 'a']) await members.heartbeat(id)
    // All in one turn: reads of the live set may share a command (live-reads.ts), never one
    // sent before a change that was made before them.
    const first = members.live()
    const beat = other.heartbeat('c')
    const second = members.live()
    const owner = members.owner('job-1')
    const left = other.leave('a')
    const third = members.live()
    const fourth = members.live()
    await Promise.all([beat, left])
    assert.deepEqual(await first, ['a', 'b'])
    assert.deepEqual(await second, ['a', 'b', 'c'])
    assert.equal(await owner, await members.owner('job-1', ['a', 'b', 'c']))
    const [a, b] = [await third, await fourth]
    assert.deepEqual(a, ['b', 'c'])
    assert.notEqual(a, b, 'each caller gets its own array')
    a.push('mine')
    assert.deepEqual(b, ['b', 'c'])
    assert.deepEqual(await members.live(), ['b', 'c'])
  })

  test('a member that stops heartbeating disappears within ttl + 10%', async () => {
    // Everything slow (a second fleet, its connections) comes before the short heartbeat, and
    // ttl leaves a loaded machine time to read the members at once after it.
    const ttl = 1000
    const long = (await env.fleet()).withNamespace('expiry').membership({ ttl: 60_000 })
    await long.heartbeat('long')
    const members = (await env.fleet()).withNamespace('expiry').membership({ ttl })
    await members.live()
    await members.heartbeat('short')
    const beatAt = Date.now()
    assert.deepEqual(await members.live(), ['long', 'short'])
    await sleep(ttl * 1.1 - (Date.now() - beatAt))
    assert.deepEqual(await members.live(), ['long'])
    await members.heartbeat('short')
    assert.deepEqual(await members.live(), ['long', 'short'], 'a new heartbeat brings it back')
  })

  test('join heartbeats until stop; stop leaves at once', async () => {
    // A heartbeat every ttl / 3: a ttl of 1 s leaves a loaded machine 600 ms of lateness.
    const ttl = 1000
    const members = (await env.fleet()).withNamespace('join').membership({ ttl })
    const handle = members.join('worker-1')
    await sleep(ttl * 2)
    assert.deepEqual(await members.live(), ['worker-1'], 'still live two ttls later')
    await handle.stop()
    assert.deepEqual(await members.live(), [])
    await handle.stop()
    assert.throws(() => members.join('x', { interval: ttl }), TypeError)
    assert.throws(() => members.join(''), TypeError)
  })

  test('fleet.close() stops join timers and leaves; a closed fleet refuses work', async () => {
    const fleet = await env.fleet()
    const members = fleet.withNamespace('close').membership({ ttl: 60_000 })
    const observer = (await env.fleet()).withNamespace('close').membership()
    const handle = members.join('closing')
    await members.heartbeat('closing')
    assert.deepEqual(await observer.live(), ['closing'])
    await fleet.close()
    assert.deepEqual(await observer.live(), [], 'closing the fleet left')
    await handle.stop()
    await assert.rejects(members.heartbeat('x'), ClosedError)
    await assert.rejects(members.live(), ClosedError)
    await assert.rejects(members.owner('k'), { name: 'ClosedError', message: /^membership\.owner: / })
    await assert.rejects(members.owner('k', ['a', 'b']), ClosedError, 'with its members given too')
    assert.throws(() => members.join('y'), ClosedError)
  })

  test('stop() and fleet.close() at once (a shutdown handler): stop resolves and every member has left', async () => {
    const fleet = await env.fleet()
    const members = fleet.withNamespace('stop-close').membership({ ttl: 60_000 })
    const observer = (await env.fleet()).withNamespace('stop-close').membership()
    const stopped = members.join('stopped')
    const joined = members.join('joined')
    await members.heartbeat('stopped')
    await members.heartbeat('joined')
    assert.deepEqual(await observer.live(), ['joined', 'stopped'])
    const stopping = stopped.stop()
    await fleet.close()
    await stopping
    assert.deepEqual(await observer.live(), [], 'left at once, not after ttl')
    await joined.stop()
    await stopped.stop()
  })

  test('a ttl below 2 ms is a ConfigError naming the minimum; 2 ms joins, beating every 1 ms', async () => {
    const fleet = await env.fleet()
    assert.throws(() => fleet.membership({ ttl: 1 }), {
      name: 'ConfigError',
      message: /ttl must be at least 2 ms/,
    })
    const members = fleet.withNamespace('min-ttl').membership({ ttl: 2 })
    await members.join('fast').stop()
    assert.deepEqual(await members.live(), [])
  })

  test('owner: rendezvous hashing, stable when a member leaves, balanced, over live or given members', async () => {
    const members = (await env.fleet()).withNamespace('owner').membership()
    const ids = ['m0', 'm1', 'm2', 'm3', 'm4']
    const keys = Array.from({ length: 10_000 }, (_, i) => `key:${i}`)
    const before = await Promise.all(keys.map((k) => members.owner(k, ids)))
    const counts = new Map<string, number>()
    for (const owner of before) counts.set(owner!, (counts.get(owner!) ?? 0) + 1)
    for (const id of ids) {
      const share = (counts.get(id) ?? 0) / keys.length
      assert.ok(share > 0.15 && share < 0.25, `${id} owns ${share}`)
    }
    const without = ids.filter((id) => id !== 'm2')
    const after = await Promise.all(keys.map((k) => members.owner(k, without)))
    let moved = 0
    after.forEach((owner, i) => {
      if (owner !== before[i]) {
        moved++
        assert.equal(before[i], 'm2', `${keys[i]} moved from ${before[i]} to ${owner}`)
      }
    })
    assert.equal(moved, counts.get('m2'))
    assert.equal(
      await members.owner('k', [...ids].reverse()),
      await members.owner('k', ids),
      'order does not matter',
    )
    assert.equal(await members.owner('k', []), undefined)
    assert.equal(await members.owner('k'), undefined, 'nobody is live yet')
    for (const id of ids) await members.heartbeat(id)
    assert.equal(await members.owner('key:1'), before[1])
    await assert.rejects(members.owner(''), TypeError)
    await assert.rejects(members.owner('k', 'm1' as never), TypeError)
  })

  test('an inbox whose key holds a string fails with a CommandError naming the member, not the Redis key', async () => {
    const fleet = await env.fleet()
    const members = fleet.withNamespace('typed-inbox').membership()
    const raw = await rawAccess(env.topology)
    try {
      await raw.set(`${env.namespace}:typed-inbox:membership:inbox:carol`, 'a string')
      const error = await take(members.inbox('carol', { from: '0' }), 1).then(
        () => assert.fail('the inbox yielded'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof CommandError, String(error))
      assert.match(error.message, /^membership\.inbox 'carol' failed: WRONGTYPE/)
    } finally {
      await raw.close()
    }
  })

  test('send/inbox: from 0 delivers messages sent while the reader was offline; $ only new ones', async () => {
    const fleet = await env.fleet()
    const members = fleet.withNamespace('inbox').membership()
    await members.send('bob', { hello: 'bob' })
    await members.send('bob', ['any', 'json', 1, null])
    await members.send('bob', 'text ✓')
    const offline = await take(members.inbox('bob', { from: '0' }), 3)
    assert.deepEqual(offline, [{ hello: 'bob' }, ['any', 'json', 1, null], 'text ✓'])
    // From '$': only what is sent after the iteration started (publish until the first arrives).
    const controller = new AbortController()
    const seen: unknown[] = []
    const reading = (async () => {
      for await (const message of members.inbox('bob', { signal: controller.signal })) seen.push(message)
    })()
    let n = 0
    while (seen.length === 0) {
      await members.send('bob', n++)
      await new Promise((resolve) => setImmediate(resolve))
    }
    controller.abort()
    await reading
    assert.ok(!seen.includes('text ✓'), 'older messages are not replayed from $')
    assert.deepEqual(await take(members.inbox('alice', { from: '0' }), 0), [])
  })

  test("an inbox iterator's return() ends a next() that waits for a message (helper-309)", async () => {
    const members = (await env.fleet()).withNamespace('inbox-return').membership()
    const iterator = members.inbox('dave')[Symbol.asyncIterator]()
    const waiting = iterator.next()
    // As RxJS' unsubscribe, or a read given up after a while, does: no message ever comes.
    const returned = iterator.return!()
    assert.deepEqual(await waiting, { value: undefined, done: true })
    assert.deepEqual(await returned, { value: undefined, done: true })
    assert.deepEqual(await iterator.next(), { value: undefined, done: true })
  })

  test('an inbox from $ gets a message sent right after its iteration starts', async () => {
    const members = (await env.fleet()).withNamespace('inbox-start').membership()
    await members.send('carol', 'before')
    const controller = new AbortController()
    const seen: unknown[] = []
    const reading = (async () => {
      for await (const message of members.inbox('carol', { signal: controller.signal })) {
        seen.push(message)
        if (message === 'second') controller.abort()
      }
    })()
    // Not awaited before: the inbox's '$' must be fixed ahead of this send (SPEC §6).
    await members.send('carol', 'first')
    await members.send('carol', 'second')
    await reading
    assert.deepEqual(seen, ['first', 'second'])
  })

  test('an inbox keeps the newest 10,000 messages', async () => {
    // 1000 sends at once can wait in the client's queue past the default 1 s commandTimeout on a
    // loaded machine; the test is about the cap, not latency.
    const fleet = await env.fleet({ commandTimeout: 15_000 })
    const members = fleet.withNamespace('cap').membership()
    const total = 10_050
    for (let start = 0; start < total; start += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, total - start) }, (_, i) => members.send('full', start + i)),
      )
    }
    const messages = (await take(members.inbox('full', { from: '0' }), 10_000)) as number[]
    assert.equal(messages.length, 10_000)
    // Sends within one chunk are concurrent, so their order is not promised; chunks are not:
    // the 50 trimmed messages all come from the first chunk, and every later one is kept.
    assert.equal(new Set(messages).size, 10_000)
    assert.equal(messages.filter((m) => m < 1000).length, 950)
    assert.equal(messages.filter((m) => m >= 1000).length, total - 1000)
  })

  test('bad arguments are TypeErrors, unencodable messages SerializationErrors, bad options ConfigErrors', async () => {
    const fleet = await env.fleet()
    const members = fleet.withNamespace('bad').membership()
    await assert.rejects(members.heartbeat(''), TypeError)
    await assert.rejects(members.leave(1 as never), TypeError)
    await assert.rejects(members.send('x', undefined), SerializationError)
    await assert.rejects(members.send('x', { f: 10n }), SerializationError)
    // The path names the caller's value, not redfleet's envelope around it.
    await assert.rejects(members.send('x', new Map()), {
      name: 'SerializationError',
      message: "membership.send 'x': value is a Map, which cannot be stored as JSON",
    })
    await assert.rejects(members.send('x', { a: [new Set()] }), /: value\.a\[0\] is a Set/)
    await assert.rejects(members.send('', 1), TypeError)
    assert.throws(() => members.inbox('x', { from: '1' as never }), TypeError)
    assert.throws(() => members.inbox(''), TypeError)
    assert.throws(() => fleet.membership({ ttl: 0 }), ConfigError)
    assert.throws(() => fleet.membership({ ttl: -1 }), ConfigError)
  })

  test('argument errors of inbox are thrown at the call and traced (start, end, error, asyncEnd)', async () => {
    const fleet = (await env.fleet()).withNamespace('inbox-trace')
    const members = fleet.membership()
    const traced = traceEvents('inbox', fleet.namespace)
    try {
      assert.throws(() => members.inbox(''), TypeError)
      assert.throws(() => members.inbox('a', { from: 'x' as never }), TypeError)
    } finally {
      traced.off()
    }
    const failed = (member: string) =>
      ['start', 'end', 'error', 'asyncStart', 'asyncEnd'].map((kind) => `${kind}:${member}`)
    assert.deepEqual(traced.events, [...failed(''), ...failed('a')])
  })
})
