import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { test } from 'node:test'
import { ClosedError, ConfigError } from '../../src/index.ts'
import { inbox } from '../harness/inbox.ts'
import { forEachTopology } from '../harness/topologies.ts'

const text = (buffers: Buffer[]) => buffers.map((b) => b.toString('utf8'))

forEachTopology('Presence contract', (env) => {
  test('subscribe resolves once live: a payload published right after it is received, as a Buffer', async () => {
    const [a, b] = await Promise.all([env.fleet(), env.fleet()])
    const received = inbox<Buffer>()
    await a.presence().subscribe('room-1', received.push)
    await b.presence().publish('room-1', 'hello')
    const [payload] = await received.until(1)
    assert.ok(Buffer.isBuffer(payload))
    assert.equal(payload!.toString('utf8'), 'hello')
  })

  test('binary payloads round-trip byte for byte; strings arrive as UTF-8', async () => {
    const a = await env.fleet()
    const received = inbox<Buffer>()
    const presence = a.presence()
    await presence.subscribe('bin', received.push)
    const bytes = new Uint8Array(256).map((_, i) => i)
    const view = new Uint8Array(bytes.buffer, 10, 5) // a view into a larger buffer
    await presence.publish('bin', bytes)
    await presence.publish('bin', view)
    await presence.publish('bin', 'ünïcode 🚀')
    await presence.publish('bin', new Uint8Array(0))
    const [all, part, unicode, empty] = await received.until(4)
    assert.deepEqual([...all!], [...bytes])
    assert.deepEqual([...part!], [10, 11, 12, 13, 14])
    assert.equal(unicode!.toString('utf8'), 'ünïcode 🚀')
    assert.equal(empty!.length, 0)
  })

  test('the publisher may reuse its buffer at once: the payload was copied', async () => {
    const a = await env.fleet()
    const received = inbox<Buffer>()
    const presence = a.presence()
    await presence.subscribe('reuse', received.push)
    const buffer = new Uint8Array([1, 2, 3])
    const sent = presence.publish('reuse', buffer)
    buffer.fill(9)
    await sent
    assert.deepEqual([...(await received.until(1))[0]!], [1, 2, 3])
  })

  test("each fleet gets its own payload: a listener writing into its Buffer changes no other fleet's", async () => {
    const [a, b] = await Promise.all([env.fleet(), env.fleet()])
    const scribbled = inbox<Buffer>()
    const intact = inbox<Buffer>()
    await a.presence().subscribe('scribble', (payload) => scribbled.push(payload.fill(0x5a)))
    await b.presence().subscribe('scribble', intact.push)
    await a.presence().publish('scribble', 'hello')
    assert.deepEqual(text(await scribbled.until(1)), ['ZZZZZ'])
    assert.deepEqual(text(await intact.until(1)), ['hello'])
  })

  test("rooms are isolated, and one publisher's payloads arrive in order", async () => {
    const [a, b] = await Promise.all([env.fleet(), env.fleet()])
    const red = inbox<Buffer>()
    const blue = inbox<Buffer>()
    await Promise.all([a.presence().subscribe('red', red.push), a.presence().subscribe('blue', blue.push)])
    const presence = b.presence()
    const sent = Array.from({ length: 300 }, (_, i) => `r${i}`)
    await Promise.all([...sent.map((m) => presence.publish('red', m)), presence.publish('blue', 'b0')])
    assert.deepEqual(text(await red.until(sent.length)), sent)
    assert.deepEqual(text(await blue.until(1)), ['b0'])
  })

  test('aborting the signal stops delivery to that subscription only', async () => {
    const a = await env.fleet()
    const presence = a.presence()
    const stopped = inbox<Buffer>()
    const kept = inbox<Buffer>()
    const controller = new AbortController()
    await presence.subscribe('abort', stopped.push, { signal: controller.signal })
    await presence.subscribe('abort', kept.push)
    await presence.publish('abort', 'one')
    await kept.until(1)
    controller.abort()
    await presence.publish('abort', 'two')
    assert.deepEqual(text(await kept.until(2)), ['one', 'two'])
    assert.deepEqual(text(await stopped.until(1)), ['one'])
    assert.equal(stopped.items.length, 1)
  })

  test("a subscription ended by close leaves nothing on the caller's signal; live ones share one listener", async () => {
    const shutdown = new AbortController()
    const listeners = () => getEventListeners(shutdown.signal, 'abort').length
    for (let round = 0; round < 3; round++) {
      const closing = await env.fleet()
      await closing.presence().subscribe('outlived', () => {}, { signal: shutdown.signal })
      await closing.close()
    }
    assert.equal(listeners(), 0, 'the closed fleets’ subscriptions are gone from the signal')
    const presence = (await env.fleet()).presence()
    const received = inbox<Buffer>()
    for (let room = 0; room < 12; room++) {
      await presence.subscribe(`shared-${room}`, received.push, { signal: shutdown.signal })
    }
    assert.equal(listeners(), 1, 'one listener for every subscription of the signal (no leak warning)')
    shutdown.abort()
    assert.equal(listeners(), 0)
    const marker = inbox<Buffer>()
    await presence.subscribe('shared-0', marker.push)
    await presence.publish('shared-0', 'after')
    await marker.until(1)
    assert.equal(received.items.length, 0, 'aborting the signal ended them all')
  })

  test('subscriptions made at once with one signal put one listener on it while Redis confirms them', async () => {
    // Each wait for Redis' confirmation listened on the caller's signal itself: 11 subscribes at
    // once made Node warn of a leak (helper-287).
    const shutdown = new AbortController()
    const presence = (await env.fleet()).presence()
    let settled = false
    const subscribing = Promise.all(
      Array.from({ length: 16 }, (_, room) =>
        presence.subscribe(`at-once-${room}`, () => {}, { signal: shutdown.signal }),
      ),
    ).finally(() => {
      settled = true
    })
    let most = 0
    while (!settled) {
      most = Math.max(most, getEventListeners(shutdown.signal, 'abort').length)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await subscribing
    assert.equal(most, 1, 'one listener on the signal at any time')
    shutdown.abort()
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0)
  })

  test('an already aborted signal resolves at once and subscribes nothing', async () => {
    const a = await env.fleet()
    const presence = a.presence()
    const never = inbox<Buffer>()
    const marker = inbox<Buffer>()
    await presence.subscribe('pre-aborted', never.push, { signal: AbortSignal.abort() })
    await presence.subscribe('pre-aborted', marker.push)
    await presence.publish('pre-aborted', 'x')
    await marker.until(1)
    assert.equal(never.items.length, 0)
  })

  test('a subscription aborted before Redis confirmed it, then a new one of the room: the new one resolves once live', async () => {
    // On node-redis the room ended unsubscribed in Redis while subscribe resolved (helper-259).
    const [a, b] = await Promise.all([env.fleet(), env.fleet()])
    const presence = a.presence()
    const turn = () => new Promise((resolve) => setImmediate(resolve))
    const rooms = Array.from({ length: 40 }, (_, i) => `toggle-${i}`)
    const received = inbox<Buffer>()
    for (const [i, room] of rooms.entries()) {
      const controller = new AbortController()
      const first = presence.subscribe(room, () => {}, { signal: controller.signal })
      await turn()
      controller.abort()
      await turn()
      const again = new AbortController()
      await presence.subscribe(room, received.push, { signal: again.signal })
      await first
      await b.presence().publish(room, room)
      await received.until(i + 1)
      again.abort()
    }
    assert.deepEqual(text(received.items), rooms)
  })

  test('the last subscription of a room leaving and a new one joining works again', async () => {
    const a = await env.fleet()
    const presence = a.presence()
    const controller = new AbortController()
    const first = inbox<Buffer>()
    await presence.subscribe('rejoin', first.push, { signal: controller.signal })
    controller.abort()
    const second = inbox<Buffer>()
    await presence.subscribe('rejoin', second.push)
    await presence.publish('rejoin', 'again')
    assert.deepEqual(text(await second.until(1)), ['again'])
    assert.equal(first.items.length, 0)
  })

  test('a throwing listener is reported to onError and the others still receive', async () => {
    const a = await env.fleet()
    const errors = inbox<unknown>()
    const presence = a.presence({ onError: errors.push })
    const received = inbox<Buffer>()
    await presence.subscribe('faulty', () => {
      throw new Error('listener bug')
    })
    await presence.subscribe('faulty', received.push)
    await presence.publish('faulty', 'm')
    assert.deepEqual(text(await received.until(1)), ['m'])
    assert.equal(((await errors.until(1))[0] as Error).message, 'listener bug')
  })

  test('bad arguments and options are refused with typed errors', async () => {
    const a = await env.fleet()
    const presence = a.presence()
    await assert.rejects(presence.publish('', 'x'), TypeError)
    await assert.rejects(presence.publish(3 as unknown as string, 'x'), TypeError)
    await assert.rejects(presence.publish('r', 42 as unknown as string), TypeError)
    await assert.rejects(presence.publish('x'.repeat(1025), 'x'), TypeError)
    await assert.rejects(
      presence.subscribe('', () => {}),
      TypeError,
    )
    await assert.rejects(presence.subscribe('r', 'fn' as unknown as () => void), TypeError)
    await assert.rejects(
      presence.subscribe('r', () => {}, { signal: {} as AbortSignal }),
      TypeError,
    )
    assert.throws(() => a.presence({ onError: 1 as unknown as () => void }), ConfigError)
  })

  test('after close: subscribe and publish reject with ClosedError', async () => {
    const a = await env.fleet()
    const presence = a.presence({ onError: () => {} })
    await a.close()
    await assert.rejects(
      presence.subscribe('r', () => {}),
      ClosedError,
    )
    await assert.rejects(presence.publish('r', 'x'), ClosedError)
  })

  for (const signal of [undefined, new AbortController().signal]) {
    const given = signal ? 'with a signal' : 'without a signal'
    test(`a subscribe that close cuts off rejects with ClosedError naming it, and is not also reported (${given})`, async () => {
      const a = await env.fleet()
      const reported: unknown[] = []
      const subscribing = a
        .presence({ onError: (e) => reported.push(e) })
        .subscribe('cut', () => {}, { signal })
        .then(
          () => undefined,
          (error: unknown) => error,
        )
      await a.close()
      const error = await subscribing
      if (env.topology === 'memory') {
        // On memory the subscription is live at once, before close: it resolves.
        assert.equal(error, undefined)
      } else {
        assert.ok(error instanceof ClosedError, String(error))
        assert.match(error.message, /^presence\.subscribe 'cut': the fleet is closed/)
      }
      assert.deepEqual(reported, [], 'the caller hears it; onError does not hear it too')
    })
  }

  test('broker and presence with the same name do not see each other', async () => {
    const a = await env.fleet()
    const presence = a.presence()
    const rooms = inbox<Buffer>()
    await presence.subscribe('shared-name', rooms.push)
    const messages = inbox<string>()
    const broker = a.broker({ channel: 'shared-name' })
    broker.subscribe(messages.push)
    await broker.ready()
    await broker.publish('broker message')
    await presence.publish('shared-name', 'presence message')
    // Markers last: anything that crossed over would have arrived before them.
    await broker.publish('end')
    await presence.publish('shared-name', 'end')
    assert.deepEqual(await messages.until(2), ['broker message', 'end'])
    assert.deepEqual(text(await rooms.until(2)), ['presence message', 'end'])
  })
})
