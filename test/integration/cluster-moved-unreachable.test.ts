/**
 * A MOVED reply handed back to redfleet (a pipeline's: a write with `waitFor`, a batch of a
 * multi-key call) that names a master the cluster client has no connection to: the dead
 * master's slots bounced between the others. The call fails with a ConnectionError naming that
 * master, as README says, not with the raw MOVED reply (helper-182, helper-183).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ReplyError } from 'ioredis'
import { operationPolicy, runCommand } from '../../src/context.ts'
import { partlyApplied } from '../../src/errors.ts'
import { fleetContext } from '../../src/fleet.ts'
import { ConnectionError, createFleet } from '../../src/index.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleets } = fileCluster()

test('a MOVED to a master without a connection is told as that master unreachable, outcome kept', async () => {
  const fleet = createFleet({
    url: cluster.urls,
    cluster: true,
    namespace: uniqueNamespace(),
    onError: () => {},
  })
  fleets.push(fleet)
  await fleet.ready()
  const dead = `127.0.0.1:${cluster.servers[1]!.port}`
  await cluster.servers[1]!.kill()
  // Until a read of one of its keys fails, the client may not have seen its connection go.
  const store = fleet.store()
  for (
    let i = 0;
    await store.get(`k${i}`).then(
      () => true,
      () => false,
    );
    i++
  );
  const ctx = fleetContext(fleet)
  const policy = operationPolicy(ctx, { retry: { attempts: 1 } })
  // As a pipeline hands it back, and as a multi-node write's part beside others that were sent.
  const moved = (outcome: 'not-applied' | 'unknown') => {
    const reply = new ReplyError(`MOVED 1234 ${dead}`)
    return outcome === 'unknown' ? partlyApplied(reply) : reply
  }
  for (const outcome of ['not-applied', 'unknown'] as const) {
    const error = await runCommand(ctx, policy, 'store.set', 'k', () => Promise.reject(moved(outcome))).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    )
    assert.ok(error instanceof ConnectionError, String(error))
    assert.doesNotMatch(error.message, /MOVED 1234/)
    assert.match(error.message, new RegExp(`store\\.set 'k' failed: .*${dead}`))
    assert.equal(error.outcome, outcome)
  }
})
