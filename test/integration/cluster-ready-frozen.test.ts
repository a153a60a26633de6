/**
 * `fleet.ready()` on a cluster one of whose masters is frozen (SIGSTOP: it accepts connections
 * and answers nothing) rejects with a ConnectionError naming that master (SPEC §1: ready "rejects
 * with a clear error"), within connectTimeout and commandTimeout: a new connection's handshake to
 * it is bounded by connectTimeout. It was left pending for as long as the master stayed frozen,
 * and `status` and the dashboard, which wait for it, never ended (helper-187).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConnectionError, createFleet } from '../../src/index.ts'
import { info } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { cluster, fleets } = fileCluster()

const connectTimeout = 1000
const commandTimeout = 500
/**
 * ready's bound: a slot-map read that may ask the frozen master first (connectTimeout), its
 * connection's handshake (connectTimeout), a PING and a CLUSTER INFO (commandTimeout each);
 * twice over for a loaded machine.
 */
const BOUND = 2 * (2 * connectTimeout + 2 * commandTimeout)

test('ready() rejects naming a frozen master, within connectTimeout and commandTimeout', async () => {
  const frozen = cluster.servers[1]!
  const pid = Number((await info(frozen.port, 'server')).get('process_id'))
  process.kill(pid, 'SIGSTOP')
  try {
    const fleet = createFleet({
      url: cluster.urls,
      cluster: true,
      namespace: uniqueNamespace(),
      connectTimeout,
      commandTimeout,
      onError: () => {},
    })
    fleets.push(fleet)
    const bound = new AbortController()
    const outcome = await Promise.race([
      fleet.ready().then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      sleep(BOUND, 'still pending', { signal: bound.signal }),
    ])
    bound.abort()
    assert.ok(outcome instanceof ConnectionError, String(outcome))
    assert.match(outcome.message, new RegExp(`127\\.0\\.0\\.1:${frozen.port}`))
  } finally {
    process.kill(pid, 'SIGCONT')
  }
})
