/**
 * A url naming a db the server does not have (ioredis carries on after its failed SELECT, in db
 * 0): every call fails, saying so, and nothing is written to db 0.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { ConnectionError, createFleet, NodeDownError } from '../../src/index.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

test('a db the server does not have fails every call and ready(), and writes nothing to db 0', async () => {
  const { standalone } = await testServers()
  const namespace = uniqueNamespace('nodb')
  // The test servers keep Redis' default of 16 databases: 0 to 15.
  const fleet = createFleet({ url: `${standalone}/16`, namespace, onError: () => {} })
  const db0 = new Redis(standalone)
  try {
    const store = fleet.store()
    const calls = await Promise.allSettled([store.set('a', 1), store.get('a'), fleet.cache().write('c', 1)])
    for (const call of calls.slice(0, 2)) {
      assert.equal(call.status, 'rejected')
      assert.ok(call.reason instanceof NodeDownError, String(call.reason))
      assert.match(call.reason.message, /no such db as the url names \(SELECT: ERR DB index is out of range/)
    }
    await assert.rejects(fleet.ready(), (error: unknown) => {
      assert.ok(error instanceof ConnectionError)
      assert.match(error.message, /no such db as the url names/)
      return true
    })
    await assert.rejects(store.set('b', 2), NodeDownError)
    assert.deepEqual(await db0.keys(`${namespace}:*`), [])
  } finally {
    db0.disconnect()
    await fleet.close()
  }
})

test('node-redis: ready() of a url naming a db the server does not have rejects, saying so, before any call', async () => {
  const { standalone } = await testServers()
  // node-redis writes what waits for a connection with its handshake, before the SELECT is
  // answered: a PING sent before the client is ready would be answered from db 0.
  const fleet = createFleet({
    url: `${standalone}/16`,
    transport: 'node-redis',
    namespace: uniqueNamespace('nodb'),
    onError: () => {},
  })
  try {
    await assert.rejects(fleet.ready(), (error: unknown) => {
      assert.ok(error instanceof ConnectionError, String(error))
      assert.match(error.message, /no such db as the url names \(SELECT: ERR DB index is out of range/)
      return true
    })
  } finally {
    await fleet.close()
  }
})

test('node-redis: ready() waits for a connection that is still opening, then PINGs it in its own db', async () => {
  const { standalone } = await testServers()
  const namespace = uniqueNamespace('db3')
  const fleet = createFleet({ url: `${standalone}/3`, transport: 'node-redis', namespace })
  const db3 = new Redis(`${standalone}/3`)
  try {
    await fleet.ready()
    await fleet.store().set('x', 1)
    assert.deepEqual(await db3.keys(`${namespace}:*`), [`${namespace}:store:x`])
  } finally {
    db3.disconnect()
    await fleet.close()
  }
})
