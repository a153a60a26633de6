/**
 * A process that stops running for a while (SIGSTOP, a paused container, a stalled VM) resumes
 * with what happened meanwhile unread: here, its invalidation connection killed and a key changed
 * by another client, whose invalidation went nowhere. A near-cache read made in the first turn
 * after the stall, before any of that is read, served the old value. The stall is made by
 * blocking this process while redis-cli does the rest; each transport, on a server of its own.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { after, test } from 'node:test'
import { stallLimit } from '../../src/cache/stall-guard.ts'
import { invalidationBound, topologyCheckInterval } from '../../src/cache/tracking.ts'
import { createFleet } from '../../src/index.ts'
import { untilNearHit } from '../harness/near-cache.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

/** redis-cli against `port`, run while this process waits for it (no event of ours is handled). */
function cliNow(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim()
}

/** Blocks this process for `ms`: its timers and sockets go unserved, as in a stall. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * How long each case stalls: past the near cache's own limit with the defaults' connectTimeout;
 * with short timeouts, whose invalidation bound is under that limit's floor of 1 s, just past the
 * bound (helper-320: a stall of 900 ms with a bound of 700 ms served the old value).
 */
const cases = [
  { name: 'a stall past its limit', connectTimeout: 5000, commandTimeout: 500 },
  { name: 'a stall past a bound under 1 s', connectTimeout: 400, commandTimeout: 200 },
].map((timeouts) => {
  const bound = invalidationBound(timeouts.connectTimeout, timeouts.commandTimeout)
  const limit = stallLimit(topologyCheckInterval(timeouts.commandTimeout), bound)
  return { ...timeouts, stall: limit < bound ? limit + 200 : bound + 100 }
})

for (const transport of ['ioredis', 'node-redis'] as const) {
  for (const { name, connectTimeout, commandTimeout, stall: stalled } of cases) {
    test(`${transport}, ${name}: the first near-cache read after the process stalled is not served from before the stall`, async () => {
      const server = await startRedis()
      cleanups.push(() => server.stop())
      const namespace = uniqueNamespace('stall')
      const reported: string[] = []
      const fleet = createFleet({
        url: server.url,
        namespace,
        transport,
        connectTimeout,
        commandTimeout,
        onError: (e) => void reported.push(String(e)),
      })
      cleanups.push(() => fleet.close())
      const cache = fleet.cache({ near: { max: 100 } })
      await cache.write('k', 'old')
      await cache.write('other', 'new')
      await untilNearHit(cache, 'k', 10_000, reported)

      const [subscriber] = cliNow(server.port, 'CLIENT', 'LIST', 'TYPE', 'pubsub')
        .split('\n')
        .map((line) => /\bid=(\d+)/.exec(line)?.[1])
      assert.ok(subscriber, 'the invalidation connection')
      // While this process does not run: its invalidation connection is killed, so the change that
      // follows is told to no one, and the key is changed by another client.
      cliNow(server.port, 'CLIENT', 'KILL', 'ID', subscriber)
      cliNow(server.port, 'COPY', `${namespace}:cache:other`, `${namespace}:cache:k`, 'REPLACE')
      stall(stalled)
      // The same turn: nothing this process was told meanwhile has been read yet.
      assert.equal(await cache.read('k'), 'new')
      // The trackings are enabled again: the near cache serves again, and is told of changes.
      await untilNearHit(cache, 'k', 10_000, reported)
      await cache.write('k', 'newer')
      assert.equal(await cache.read('k'), 'newer')
    })
  }
}
