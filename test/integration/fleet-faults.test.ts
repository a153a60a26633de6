import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setImmediate } from 'node:timers/promises'
import { Redis } from 'ioredis'
import {
  ClosedError,
  ConnectionError,
  createFleet,
  failsafe,
  MissingClientError,
  TimeoutError,
} from '../../src/index.ts'
import { waitUntil } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { settledWithin } from '../harness/settled.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { runWithout } from '../harness/without-packages.ts'

describe('a stopped Redis', () => {
  let server: RedisServer
  before(async () => {
    server = await startRedis()
    await server.stop()
  })

  test('operations reject with ConnectionError within connectTimeout + commandTimeout, naming op and key', async (t) => {
    const timeouts = { connectTimeout: 2000, commandTimeout: 1000 }
    // SPEC §1: a call settles within connectTimeout + commandTimeout; the same again is margin
    // for a loaded machine. A call that waited for Redis to come back would never settle.
    const bound = 2 * (timeouts.connectTimeout + timeouts.commandTimeout)
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), ...timeouts })
    try {
      const started = performance.now()
      await assert.rejects(fleet.store().get('user:1'), (e: unknown) => {
        assert.ok(e instanceof ConnectionError, String(e))
        assert.match((e as Error).message, /store\.get 'user:1'/)
        return true
      })
      const took = performance.now() - started
      t.diagnostic(`store.get rejected after ${took.toFixed(0)} ms`)
      assert.ok(took < bound, `rejected after ${took.toFixed(0)} ms, bound ${bound} ms`)
      await assert.rejects(fleet.ready(), ConnectionError)
    } finally {
      await fleet.close()
    }
  })

  test('failsafe turns failures into no-ops and reports each to onError once', async () => {
    const reported: unknown[] = []
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), reconnectAttempts: 0 })
    try {
      const store = failsafe(fleet.store(), { onError: (e) => reported.push(e) })
      assert.equal(await store.get('a'), undefined)
      assert.equal(await store.set('a', 1), undefined)
      assert.equal(await store.setIfNotExists('a', 1), undefined)
      assert.equal(reported.length, 3)
      for (const e of reported) assert.ok(e instanceof ConnectionError)
    } finally {
      await fleet.close()
    }
  })

  test('the store retries, then calls its onError once with the final error', async () => {
    const seen: unknown[] = []
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), reconnectAttempts: 0 })
    try {
      const store = fleet.store({ retry: { attempts: 3, base: 1 }, onError: (e) => seen.push(e) })
      await assert.rejects(store.set('k', 1), ConnectionError)
      assert.equal(seen.length, 1)
    } finally {
      await fleet.close()
    }
  })
})

describe('a server that stops answering', () => {
  let server: RedisServer
  before(async () => {
    server = await startRedis()
  })
  after(() => server.stop())

  test('a command with no reply within commandTimeout rejects with TimeoutError', async () => {
    // Long enough for ready()'s PING on a loaded machine; the pause outlasts it several times over.
    const commandTimeout = 400
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), commandTimeout })
    const blocker = new Redis(server.url)
    try {
      await fleet.ready()
      // CLIENT PAUSE answers at once, then holds every client's commands.
      await blocker.client('PAUSE', 4 * commandTimeout, 'ALL')
      await assert.rejects(fleet.store({ retry: { attempts: 1 } }).get('k'), TimeoutError)
      await blocker.ping() // held by the pause too: resolves when the server answers again
      assert.equal(await fleet.store().get('k'), undefined, 'works again once the server answers')
    } finally {
      blocker.disconnect()
      await fleet.close()
    }
  })

  test('commandTimeout: 0 waits as long as the server takes, with no timeout', async () => {
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), commandTimeout: 0 })
    const blocker = new Redis(server.url)
    try {
      await fleet.store().set('k', 'v')
      // Counted from before the pause is sent: the server holds the read until 300 ms after it
      // took the pause, so however late the reply to PAUSE reaches us, a read that waited for
      // the server ends no earlier than that (a zero timeout would reject it at once).
      const started = performance.now()
      await blocker.client('PAUSE', 300, 'ALL')
      assert.equal(await fleet.store().get('k'), 'v')
      assert.ok(performance.now() - started >= 300 - 1, 'the read really waited for the pause')
    } finally {
      blocker.disconnect()
      await fleet.close()
    }
  })

  test('the fleet reconnects by itself when the server comes back', async () => {
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace(),
      reconnectAttempts: 0,
      onError: () => {},
    })
    try {
      await fleet.store().set('k', 1)
      await server.restart()
      let value: unknown
      for (let i = 0; i < 100 && value !== null; i++) {
        value = await fleet
          .store()
          .get('k')
          .then(
            (v) => (v === undefined ? null : v),
            () => new Promise((resolve) => setTimeout(resolve, 50)),
          )
      }
      assert.equal(value, null, 'the restarted (empty) server answered through the same fleet')
    } finally {
      await fleet.close()
    }
  })
})

describe('without ioredis installed', () => {
  test('a Redis topology fails with the install message; memory still works', async () => {
    const out = await runWithout(
      ['ioredis'],
      `const memory = createFleet();
      await memory.store().set('k', 'fine');
      console.log('memory:', await memory.store().get('k'));
      await report(createFleet({ url: 'redis://127.0.0.1:1' }));`,
    )
    assert.match(out, /memory: fine/)
    // No command was sent (SPEC §8).
    assert.match(
      out,
      new RegExp(`${MissingClientError.name}: .*npm install ioredis.*\\[outcome not-applied\\]`),
    )
  })
})

test('a call waiting out its retry backoff rejects with ClosedError at close, and close does not wait for it', async () => {
  const server = await startRedis()
  // Both connected before the script: a connection's ready check would be answered BUSY.
  const [admin, killer] = [new Redis(server.url), new Redis(server.url)]
  try {
    // A backoff far past any bound: only close can end the wait.
    const retry = { attempts: 3, base: 60_000, max: 60_000, jitter: 0 }
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace(), retry, onError() {} })
    const once = fleet.store({ retry: { attempts: 1 } })
    await once.set('k', 1)
    // A script that never ends: every other command is answered BUSY, a failure that is retried.
    await admin.config('SET', 'busy-reply-threshold', '10')
    const busy = admin.eval('while true do end', 0).catch(() => undefined)
    await waitUntil('BUSY replies', () =>
      once.get('k').then(
        () => false,
        (error: unknown) => /BUSY/.test(String(error)),
      ),
    )
    // Answered in order on the fleet's one connection: once the probe sent after them settles,
    // the get and the join's heartbeat have had their BUSY and wait out their backoff. Close
    // waits for a join's heartbeat (helper-218: close took as long as the backoff).
    const get = fleet.store().get('k')
    get.catch(() => undefined)
    const joined = fleet.membership({ ttl: 60_000 }).join('m')
    await once.get('k').catch(() => undefined)
    await setImmediate()
    assert.deepEqual(await settledWithin(fleet.close(), 10_000), { value: undefined }, 'close settled')
    const error = await settledWithin(get, 10_000)
    assert.ok(error instanceof ClosedError, `a ClosedError, got ${String(error)}`)
    await joined.stop()
    await killer.call('SCRIPT', 'KILL')
    await busy
  } finally {
    admin.disconnect()
    killer.disconnect()
    await server.stop()
  }
})
