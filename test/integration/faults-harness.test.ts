import assert from 'node:assert/strict'
import { createConnection } from 'node:net'
import { after, before, describe, test } from 'node:test'
import {
  clientPause,
  command,
  type FaultCluster,
  type FaultPair,
  info,
  startBlackHole,
  startFaultCluster,
  startPrimaryReplica,
  waitForRole,
  waitUntil,
} from '../harness/faults.ts'
import { startRedis } from '../harness/redis-server.ts'

describe('fault harness: cluster of 3 masters + 3 replicas', () => {
  let cluster: FaultCluster
  before(async () => {
    cluster = await startFaultCluster()
  })
  after(() => cluster?.stop())

  test('starts with 3 masters, each with a replica in sync', async () => {
    const roles = await Promise.all(cluster.nodes.map(async (n) => (await info(n.port)).get('role')))
    assert.equal(roles.filter((r) => r === 'master').length, 3)
    assert.equal(roles.filter((r) => r === 'slave').length, 3)
  })

  test('SIGKILL a master: its replica takes over; the restarted node rejoins as a replica; CLUSTER FAILOVER fails back', async () => {
    const master = await cluster.masterOf('k')
    await command(master.port, 'SET', 'k', 'v')
    // Replication is asynchronous: kill the master only once its replica has the write, or the
    // failover may (rightly) lose it.
    const follower = await cluster.replicaOf(master)
    await waitUntil('the replica to have the write', async () => {
      const offset = (await info(master.port, 'replication')).get('master_repl_offset')
      return (await info(follower.port, 'replication')).get('slave_repl_offset') === offset
    })
    const replica = await cluster.killAndFailover(master)
    assert.equal(await cluster.masterOf('k'), replica)
    assert.equal(await command(replica.port, 'GET', 'k'), 'v')

    await cluster.restart(master)
    assert.equal((await info(master.port)).get('role'), 'slave')
    assert.equal((await info(master.port)).get('master_port'), String(replica.port))

    await cluster.failover(master)
    assert.equal(await cluster.masterOf('k'), master)
    await waitForRole(replica, 'replica')
  })

  test('moveSlot moves a slot and its keys to another master', async () => {
    const source = await cluster.masterOf('moving')
    await command(source.port, 'SET', 'moving', '1')
    const slot = Number(await command(source.port, 'CLUSTER', 'KEYSLOT', 'moving'))
    const targets = cluster.nodes.filter((n) => n !== source)
    let target = targets[0]!
    for (const n of targets) if ((await info(n.port)).get('role') === 'master') target = n
    assert.notEqual(target, source)
    await cluster.moveSlot(slot, target)
    assert.equal(await cluster.masterOf('moving'), target)
    assert.equal(await command(target.port, 'GET', 'moving'), '1')
    await assert.rejects(command(source.port, 'GET', 'moving'), /MOVED/)
  })
})

describe('fault harness: primary/replica pair and single servers', () => {
  let pair: FaultPair
  before(async () => {
    pair = await startPrimaryReplica()
  })
  after(() => pair?.stop())

  test('swap demotes the primary (REPLICAOF) without losing writes; swapBack restores it', async () => {
    await command(pair.primary.port, 'SET', 'a', '1')
    await pair.swap()
    await assert.rejects(command(pair.primary.port, 'SET', 'b', '2'), /READONLY/)
    assert.equal(await command(pair.replica.port, 'GET', 'a'), '1')
    await command(pair.replica.port, 'SET', 'b', '2')
    await pair.swapBack()
    assert.equal(await command(pair.primary.port, 'GET', 'b'), '2')
    assert.equal((await info(pair.replica.port)).get('role'), 'slave')
  })

  test('clientPause holds other clients until it ends', async () => {
    const pausedFor = 300
    // The server is the clock here: the PING is answered only once the pause it took ends, so
    // counted from before the pause is sent it waits at least that long (1 ms: the server's
    // millisecond rounding), however late the reply to PAUSE reaches a loaded test process.
    const started = performance.now()
    await clientPause(pair.primary, pausedFor)
    await command(pair.primary.port, 'PING')
    assert.ok(
      performance.now() - started >= pausedFor - 1,
      `answered after ${performance.now() - started} ms`,
    )
  })

  test('a standalone server can be SIGKILLed and restarted on the same port', async () => {
    const server = await startRedis({ extra: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    try {
      await command(server.port, 'SET', 'kept', 'yes')
      await server.kill()
      await assert.rejects(command(server.port, 'PING'))
      await server.restart()
      assert.equal(await command(server.port, 'GET', 'kept'), 'yes')
    } finally {
      await server.stop()
    }
  })

  test('a black hole accepts connections and never answers', async () => {
    const hole = await startBlackHole()
    try {
      const socket = createConnection(hole.port, '127.0.0.1')
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
      let answered = false
      socket.on('error', () => {})
      socket.on('data', () => {
        answered = true
      })
      socket.write('PING\r\n')
      // The only event to await is the server's own close: it never writes before it.
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
      await hole.close()
      await closed
      assert.equal(answered, false)
      assert.equal(hole.accepted, 1)
    } finally {
      await hole.close().catch(() => undefined)
    }
  })
})
