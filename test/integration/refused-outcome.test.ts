/**
 * A transient reply that outlasts the retries (SPEC §8): a demoted master's READONLY refuses the
 * command before running it, so the call's CommandError says `outcome: 'not-applied'`; a
 * multi-key write whose other node applied its part says `'unknown'`.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fleetContext } from '../../src/fleet.ts'
import { CommandError, ConfigError, createFleet, type Fleet } from '../../src/index.ts'
import { command, filePrimaryReplica } from '../harness/faults.ts'
import { monitorServer } from '../harness/monitor.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

type Transport = undefined | 'node-redis'

const { pair, fleets } = filePrimaryReplica()

function fleetOn(url: string | string[], transport: Transport): Fleet {
  const fleet = createFleet({
    url,
    namespace: uniqueNamespace('refused'),
    retry: { attempts: 2, base: 1 },
    ...(transport && { transport }),
  })
  fleets.push(fleet)
  return fleet
}

async function refusal(call: Promise<unknown>): Promise<CommandError> {
  const error = await call.then(
    () => assert.fail('the replica applied a write'),
    (e: unknown) => e,
  )
  assert.ok(error instanceof CommandError, String(error))
  assert.match(error.message, /READONLY/)
  return error
}

for (const transport of [undefined, 'node-redis'] as const) {
  test(`[${transport ?? 'ioredis'}] writes a replica refuses (READONLY) are CommandErrors whose outcome is not-applied`, async () => {
    const fleet = fleetOn(pair().replica.url, transport)
    const store = fleet.store<number>()
    for (const call of [
      () => store.set('k', 1),
      () => store.increment('n'),
      () => store.setIfNotExists('claim', 1),
      () => fleet.streams().publish({ order: 1 }),
    ]) {
      assert.equal((await refusal(call())).outcome, 'not-applied')
    }
  })

  test(`[${transport ?? 'ioredis'}] a WRONGTYPE reply has no outcome: it is no refusal to run`, async () => {
    const fleet = fleetOn(pair().primary.url, transport)
    const key = `${fleetContext(fleet).keys.key('store:')}h`
    await (await fleetContext(fleet).redis()).client(key).call('HSET', key, 'f', 'v')
    const error = await fleet
      .store<number>()
      .increment('h')
      .catch((e: unknown) => e)
    assert.ok(error instanceof CommandError, String(error))
    assert.match(error.message, /WRONGTYPE/)
    assert.equal(error.outcome, undefined)
  })

  test(`[${transport ?? 'ioredis'}] a ring's multi-key write refused by one node and applied by another is unknown`, async () => {
    const { standalone } = await testServers()
    const fleet = fleetOn([standalone, pair().replica.url], transport)
    const entries = Array.from({ length: 20 }, (_, n): [string, number] => [`key-${n}`, n])
    const error = await refusal(fleet.store<number>().setMany(entries))
    assert.equal(error.outcome, 'unknown')
    assert.match(error.message, /^store.setMany failed: READONLY .*some keys may be written/)
  })
}

test('a write one pipeline applied in part (a cluster node taken for a server: some keys MOVED) is unknown', async () => {
  const { cluster } = await testServers()
  const fleet = createFleet({ url: cluster[0]!, namespace: uniqueNamespace('hint'), retry: { attempts: 1 } })
  fleets.push(fleet)
  // 30 keys: some in the node's own slots (written), the others MOVED.
  const entries = Array.from({ length: 30 }, (_, n): [string, number] => [`key-${n}`, n])
  const setMany = await fleet
    .store<number>()
    .setMany(entries, { ttl: 60_000 })
    .catch((e: unknown) => e)
  assert.ok(setMany instanceof ConfigError, String(setMany))
  assert.equal(setMany.code, 'ERR_IS_A_CLUSTER')
  assert.match(setMany.message, /MOVED.*some keys may be written.*cluster: true/)
  assert.equal(setMany.outcome, 'unknown')
})

test('a once-only write refused in part is not re-sent: its outcome is unknown, whatever the retry policy', async () => {
  const { cluster } = await testServers()
  const node = cluster[0]!
  const fleet = createFleet({
    url: node,
    namespace: uniqueNamespace('once'),
    retry: { attempts: 3, base: 1 },
  })
  fleets.push(fleet)
  const sent = new Map<string, number>()
  const sentinel = `sentinel-${uniqueNamespace()}`
  let sawSentinel!: () => void
  const seen = new Promise<void>((resolve) => {
    sawSentinel = resolve
  })
  const monitor = await monitorServer(node, (args) => {
    const name = args[0]?.toLowerCase()
    if ((name === 'eval' || name === 'evalsha') && args[3]?.startsWith(fleet.namespace)) {
      sent.set(args[3], (sent.get(args[3]) ?? 0) + 1)
    }
    if (name === 'echo' && args[1] === sentinel) sawSentinel()
  })
  try {
    const cache = fleet.cache()
    const entries = Object.fromEntries(Array.from({ length: 30 }, (_, n) => [`key-${n}`, n]))
    // unlessExist: a resend would find its own first write and answer otherwise (SPEC §8 'once').
    // A cluster node taken for a server is a ConfigError, which the failsafe never absorbs.
    const error = await cache.writeMulti(entries, { unlessExist: true }).catch((e: unknown) => e)
    await command(Number(new URL(node).port), 'ECHO', sentinel)
    await seen
    assert.ok(sent.size > 0, 'some keys are in the node’s own slots')
    assert.deepEqual([...new Set(sent.values())], [1], 'each key’s write was sent once')
    assert.ok(error instanceof ConfigError, String(error))
    assert.equal(error.outcome, 'unknown')
  } finally {
    monitor.destroy()
  }
})
