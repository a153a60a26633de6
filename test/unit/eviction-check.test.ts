import assert from 'node:assert/strict'
import { afterEach, beforeEach, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { NodeDownError, replyError } from '../../src/errors.ts'
import { EvictionCheck, recheck } from '../../src/eviction-policy.ts'
import type { RedisTopology } from '../../src/topology/types.ts'

const every = recheck.after
beforeEach(() => {
  recheck.after = 1
})
afterEach(() => {
  recheck.after = every
})

/** A topology getter failing with `error`, counting its calls; `reached(n)` settles at the n-th. */
function failingWith(error: unknown) {
  let calls = 0
  const waiting: { n: number; resolve: () => void }[] = []
  return {
    get calls() {
      return calls
    },
    reached: (n: number) => new Promise<void>((resolve) => waiting.push({ n, resolve })),
    topology: (): Promise<RedisTopology> => {
      calls++
      for (const w of waiting) if (w.n === calls) w.resolve()
      return Promise.reject(error)
    },
  }
}

test('a check that could not reach its nodes is made again until it goes through', async () => {
  const closing = new AbortController()
  const check = new EvictionCheck(closing.signal)
  const down = failingWith(
    new NodeDownError('INFO not sent: Redis at 127.0.0.1:1/0 is down', '127.0.0.1:1/0'),
  )
  check.want()
  check.onUse(down.topology)
  // The recheck's timer is unref'd (it never keeps a process alive): this one keeps the test's.
  const alive = setInterval(() => {}, 1000)
  try {
    await down.reached(3)
  } finally {
    clearInterval(alive)
    closing.abort()
  }
})

test('a node that refuses INFO for good (an ACL) is not asked again', async () => {
  const closing = new AbortController()
  const check = new EvictionCheck(closing.signal)
  const refused = failingWith(replyError("NOPERM this user has no permissions to run the 'info' command"))
  check.want()
  check.onUse(refused.topology)
  // With a recheck due every 1 ms, a window of 50 ms would hold dozens of them.
  await sleep(50)
  assert.equal(refused.calls, 1)
  closing.abort()
})

test('nothing is asked once the fleet closes, nor before a primitive wants it, nor twice on use', async () => {
  const closing = new AbortController()
  const check = new EvictionCheck(closing.signal)
  const down = failingWith(new NodeDownError('INFO not sent', '127.0.0.1:1/0'))
  check.onUse(down.topology)
  assert.equal(down.calls, 0, 'no durable primitive yet')
  check.want()
  check.onUse(down.topology)
  check.onUse(down.topology)
  assert.equal(down.calls, 1, 'started once')
  closing.abort()
  await sleep(50)
  assert.equal(down.calls, 1, 'no recheck after close')
})
