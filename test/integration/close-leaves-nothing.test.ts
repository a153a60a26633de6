/**
 * A fleet closed while its server is stalled or gone leaves no socket and no timer behind (SPEC
 * §1: close "stops every loop/timer … closes every connection it opened"), so a process that
 * closes its fleet can exit at once:
 * - `transport: 'node-redis'`, server stalled (SIGSTOP: connections are accepted by the kernel,
 *   nothing is answered). node-redis has no deadline on its handshake: a client whose socket is
 *   up and whose HELLO is unanswered waits for 'ready' forever, and so did its close.
 * - ioredis, server killed: ioredis ends a dropped connection and destroys its socket after
 *   `disconnectTimeout` unless it closes first; one closed already never closes again.
 * - `ready()` cut off by close rejects with ClosedError, as every call close cuts off does.
 * The servers are this file's own, since a stalled or killed server fails every client of it.
 */
import assert from 'node:assert/strict'
import { createHook } from 'node:async_hooks'
import { execFileSync } from 'node:child_process'
import { after, before, test } from 'node:test'
import { setTimeout as delay, setImmediate as turn } from 'node:timers/promises'
import { ClosedError, ConnectionError, createFleet } from '../../src/index.ts'
import { DISCONNECT_TIMEOUT } from '../../src/topology/connection.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

/** How many of this process's active resources are of `kind`. */
function active(kind: 'TCPSocketWrap' | 'Timeout'): number {
  return process.getActiveResourcesInfo().filter((k) => k === kind).length
}

const sockets = () => active('TCPSocketWrap')

/** A destroyed socket's handle is closed in the loop's close phase: two turns see it done. */
async function closePhase(): Promise<void> {
  await turn()
  await turn()
}

test('closed while its server is stalled, a node-redis fleet holds no socket open', async () => {
  // Asked by redis-cli: a connection of this process's own would still be closing.
  const serverInfo = execFileSync('redis-cli', ['-p', String(server.port), 'INFO', 'server'], {
    encoding: 'utf8',
  })
  const pid = Number(/process_id:(\d+)/.exec(serverInfo)![1])
  const before = sockets()
  process.kill(pid, 'SIGSTOP')
  try {
    const fleet = createFleet({
      url: server.url,
      transport: 'node-redis',
      namespace: uniqueNamespace('stalled'),
      connectTimeout: 200,
      commandTimeout: 200,
      retry: { attempts: 1 },
      onError() {},
    })
    // Command connections: each is up and handshaking when the call gives up.
    await assert.rejects(fleet.store().get('k'), ConnectionError)
    // A dedicated connection (the broker's subscriber), handshaking too.
    const unsubscribe = fleet.broker().subscribe(() => {})
    assert.ok(sockets() > before, 'the fleet opened sockets')
    await fleet.close()
    unsubscribe()
    await closePhase()
    assert.equal(sockets(), before, 'the sockets of the fleet are closed')
  } finally {
    process.kill(pid, 'SIGCONT')
  }
})

/** Follows the timers started from now on: `running()` counts those not fired or cleared yet. */
function followTimers() {
  const live = new Set<number>()
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout') live.add(id)
    },
    destroy(id) {
      live.delete(id)
    },
  }).enable()
  return { running: () => live.size, stop: () => hook.disable() }
}

test('closed after its server went down, an ioredis fleet leaves no timer running', async () => {
  const gone = await startRedis()
  try {
    const fleet = createFleet({ url: gone.url, namespace: uniqueNamespace('gone'), onError() {} })
    const store = fleet.store<number>()
    await store.set('k', 1)
    const unsubscribe = fleet.broker().subscribe(() => {})
    await fleet.broker().ready()
    await gone.kill()
    const timers = followTimers()
    try {
      await assert.rejects(store.get('k'), ConnectionError)
      await fleet.close()
      unsubscribe()
      // The timers ioredis starts as it drops its connections run out first.
      await delay(DISCONNECT_TIMEOUT)
      await closePhase()
      assert.equal(timers.running(), 0, 'no timer of the fleet runs')
    } finally {
      timers.stop()
    }
  } finally {
    await gone.stop()
  }
})

test('a ready() cut off by close rejects with ClosedError, on both transports', async () => {
  for (const transport of ['ioredis', 'node-redis'] as const) {
    const fleet = createFleet({ url: server.url, transport, namespace: uniqueNamespace('ready') })
    const ready = assert.rejects(fleet.ready(), (error: unknown) => {
      assert.ok(error instanceof ClosedError, `${transport}: ${String(error)}`)
      assert.equal(error.outcome, 'not-applied')
      return true
    })
    await fleet.close()
    await ready
  }
})
