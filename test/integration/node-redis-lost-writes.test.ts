/**
 * node-redis 5 writes a command made while its connection was up at the end of the loop's turn,
 * onto whatever socket it holds then: when the loss of that connection was handled first, onto
 * the lost one, and the command counts as sent. Its reply was then the first of the next
 * connection (the handshake's), and every later reply went to the command behind: a consume
 * loop's claim answered with CLUSTER SLOTS, the client never ready again (helper-291). A fleet
 * holds the writes of the clients it follows from such a loss until the next connection is up.
 * The loss is made here as it happens there: the socket fails in the turn a command was made.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import { createClient as createClient5 } from 'node-redis5'
import { createClient as createClient6 } from 'node-redis6'
import { createFleet, type Fleet } from '../../src/index.ts'
import type { NodeRedisClient } from '../../src/transport/node-redis-client.ts'
import { NodeRedisDedicated } from '../../src/transport/node-redis-dedicated.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { settledWithin } from '../harness/settled.ts'
import { socketsTo } from '../harness/sockets.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
before(async () => {
  server = await startRedis()
})
after(() => server?.stop())

/** The one socket of this process to the server (each test has one client or fleet open). */
function theSocket() {
  const sockets = socketsTo(server.port)
  assert.equal(sockets.length, 1, 'one connection to the server')
  return sockets[0]!
}

const lost = () => new Error('connection lost (test)')

interface Client {
  connect(): Promise<unknown>
  sendCommand(args: string[]): Promise<unknown>
  on(event: 'error', listener: () => void): unknown
  destroy(): void
}

/** Runs `work` with a fleet on `client`, connected first; closes the fleet, then the client. */
async function withFleetOn(client: Client, work: (fleet: Fleet) => Promise<void>): Promise<void> {
  client.on('error', () => undefined)
  await client.connect()
  const fleet = createFleet({ client, namespace: uniqueNamespace('lost-writes'), onError() {} })
  try {
    await work(fleet)
  } finally {
    await fleet.close()
    client.destroy()
  }
}

for (const [version, createClient] of [
  ['node-redis 5', createClient5],
  ['node-redis 6', createClient6],
] as unknown as [string, (options: object) => Client][]) {
  describe(`a fleet on an injected ${version} client`, () => {
    test('a command made in the turn its connection is lost goes out on the next one, answered by its own reply', async () => {
      const client = createClient({ url: server.url })
      await withFleetOn(client, async (fleet) => {
        const store = fleet.store<string>()
        await store.set('k', 'v')
        const echo = client.sendCommand(['ECHO', 'mine'])
        theSocket().destroy(lost())
        assert.equal(await echo, 'mine', "its own reply, not the next connection's handshake's")
        assert.equal(await store.get('k'), 'v')
        assert.equal(await client.sendCommand(['ECHO', 'after']), 'after')
      })
    })
  })
}

test('a fleet closed while its lost connection is held lets go: the client writes again once reconnected', async () => {
  const reconnectDelay = 200
  const client = createClient5({ url: server.url, socket: { reconnectStrategy: () => reconnectDelay } })
  await withFleetOn(client, async (fleet) => {
    await fleet.store().set('k', 1)
    const losing = once(client, 'error')
    theSocket().destroy(lost())
    await losing
    await fleet.close()
    // Made after the fleet let go while it held the client's writes: they resume with the next connection.
    const echo = client.sendCommand(['ECHO', 'mine'])
    assert.deepEqual(await settledWithin(echo, 20 * reconnectDelay), { value: 'mine' })
  })
})

test("an error while the next connection's handshake runs holds nothing: the client answers once ready", async () => {
  // node-redis says 'error' there too (a legacy-mode client's refused command sent with the
  // handshake, a listener of the user's that threw): held then, the client was ready with its
  // writes held, and nothing it was sent was answered again until its next loss (helper-293).
  const client = createClient5({ url: server.url })
  await withFleetOn(client, async (fleet) => {
    const store = fleet.store<string>()
    await store.set('k', 'v')
    client.once('connect', () => client.emit('error', new Error('an error of the handshake (test)')))
    // Not events.once: it rejects at the first 'error'.
    const back = new Promise((resolve) => client.once('ready', resolve))
    theSocket().destroy(lost())
    assert.notEqual(await settledWithin(back, 10_000), 'pending', 'ready again: its handshake was written')
    assert.deepEqual(await settledWithin(client.sendCommand(['ECHO', 'mine']), 10_000), { value: 'mine' })
    assert.equal(await store.get('k'), 'v')
  })
})

test("transport: 'node-redis': a store call made in the turn its connection is lost is answered by its own reply", async () => {
  const fleet = createFleet({
    url: server.url,
    transport: 'node-redis',
    namespace: uniqueNamespace('lost-writes'),
    onError() {},
  })
  try {
    const store = fleet.store<string>()
    await store.set('k', 'v')
    await store.set('other', 'w')
    const reading = store.get('k')
    // After the GET was handed to the client (redfleet sends a turn's reads at its end).
    await Promise.resolve()
    theSocket().destroy(lost())
    assert.equal(await reading, 'v')
    assert.deepEqual(await store.getMany(['other', 'k']), ['w', 'v'])
  } finally {
    await fleet.close()
  }
})

test('a dedicated connection (blocking reads, subscriptions): a command made in the turn its connection is lost gets its own reply', async () => {
  const connection = new NodeRedisDedicated(createClient5({ url: server.url }) as unknown as NodeRedisClient)
  connection.on('error', () => undefined)
  try {
    await connection.connect()
    const echo = connection.call('ECHO', 'mine')
    theSocket().destroy(lost())
    assert.equal(await echo, 'mine', "its own reply, not the next connection's handshake's")
    assert.equal(await connection.call('ECHO', 'after'), 'after')
  } finally {
    connection.disconnect()
  }
})
