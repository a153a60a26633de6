/**
 * Multi-key calls on the same keys while one node of a ring holds every command (`CLIENT PAUSE`,
 * as a frozen server would). A multi-key call holds its keys until its commands are written
 * (it first learns where its keys live), and a later call on them waits: until they are written,
 * not until the call settles, or each call would wait out every earlier one's timeouts in turn
 * (N calls, N times attempts × commandTimeout). Every call settles within one call's bound.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { pausableServer } from '../harness/pausable-server.ts'
import { topologyOptions } from '../harness/topologies.ts'

const server = pausableServer()

const COMMAND_TIMEOUT = 300
/** Concurrent calls of each kind: one after another they would take CALLS × about 3 × 300 ms. */
const CALLS = 12
/**
 * Longer than one call's bound (3 attempts of COMMAND_TIMEOUT and their backoff) with room for
 * a loaded machine, shorter than CALLS of them one after another.
 */
const PAUSE = 8000

test('concurrent setMany, writeMulti and deleteMulti of the same keys on a frozen node all settle within one call’s bound', async () => {
  const { url: standalone } = await topologyOptions('standalone')
  const fleet = server.fleet({ url: [server.url, standalone as string], commandTimeout: COMMAND_TIMEOUT })
  const store = fleet.store()
  const cache = fleet.cache({ errorHandler: () => {} })
  // Keys on both servers: every call has a part for the frozen one.
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
  await store.setMany(keys.map((key) => [key, 0]))
  await server.pause(PAUSE)
  const settled: string[] = []
  let pauseOver = false
  let waitingThen = 0
  const over = new AbortController()
  const pauseEnds = sleep(PAUSE, undefined, { signal: over.signal }).then(
    () => {
      pauseOver = true
      waitingThen = 3 * CALLS - settled.length
    },
    () => {},
  )
  const note = (what: string) => () => void settled.push(what)
  try {
    const calls = Array.from({ length: CALLS }, (_, n) => [
      store.setMany(keys.map((key) => [key, n])).then(note('setMany'), note('setMany')),
      cache.writeMulti(Object.fromEntries(keys.map((key) => [key, n]))).then(note('writeMulti')),
      cache.deleteMulti(keys).then(note('deleteMulti')),
    ]).flat()
    await Promise.all(calls)
    assert.equal(pauseOver, false, `calls still waiting when the pause ended: ${waitingThen}`)
    assert.equal(settled.length, 3 * CALLS)
  } finally {
    over.abort()
    await pauseEnds
  }
})
