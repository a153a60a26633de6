/**
 * NodeRedisClusterTopology's first opening counts its deadline (connectTimeout + commandTimeout)
 * from when the fleet began opening, before node-redis was loaded: a fleet's first call then
 * fails within that bound of its start. It used to count from after the load, which took
 * 0.2–2 s (helper-259: the first call failed after 6.5–8 s against a stated 6 s).
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mock, test } from 'node:test'
import { ConnectionError } from '../../src/errors.ts'
import { NodeRedisClusterTopology } from '../../src/topology/node-redis-cluster.ts'

/** A cluster whose seeds accept and never answer: its connect() never settles. */
class SilentCluster extends EventEmitter {
  isOpen = false
  masters: unknown[] = []
  slots: unknown[] = []
  connect() {
    return new Promise<void>(() => {})
  }
}

const settings = {
  connectTimeout: 2000,
  commandTimeout: 1000,
  reconnectAttempts: 3,
  poolSize: 1,
  onError: () => undefined,
}

/** Whether a call made at once has failed once `elapsed` ms have passed since the topology was made. */
async function failedAfter(elapsed: number, since?: number): Promise<unknown> {
  const topology = new NodeRedisClusterTopology(
    new SilentCluster() as never,
    settings as never,
    { seeds: '127.0.0.1:7000' },
    since,
  )
  const outcome = topology
    .client('k')
    .call('GET', 'k')
    .then(
      () => 'answered',
      (error: unknown) => error,
    )
  mock.timers.tick(elapsed)
  const pending = Symbol('pending')
  const result = await Promise.race([outcome, new Promise((resolve) => setImmediate(() => resolve(pending)))])
  // Close waits for the opening: let its deadline pass.
  mock.timers.tick(settings.connectTimeout + settings.commandTimeout)
  await topology.close().catch(() => undefined)
  return result === pending ? undefined : result
}

test('the first opening of a node-redis cluster counts its deadline from `since`, when the fleet began opening', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] })
  t.after(() => mock.timers.reset())
  // 2.5 s of the 3 s went to loading node-redis: the opening has 0.5 s left.
  const error = await failedAfter(500, performance.now() - 2500)
  assert.ok(error instanceof ConnectionError, String(error))
  assert.match(error.message, /did not open within connectTimeout \+ commandTimeout/)
  // Without `since`, the whole 3 s from now.
  assert.equal(await failedAfter(500), undefined)
})
