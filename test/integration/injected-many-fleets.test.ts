/**
 * A client given to many fleets (`client`: one shared connection for every module of a service
 * that makes its own fleet, or for every test of a file) carries one listener of redfleet's per
 * event, however many fleets follow it: a listener per fleet made Node warn of a leak
 * (MaxListenersExceededWarning) on the user's client from the 11th live fleet on, for listeners
 * that are no leak. Closed, the fleets leave none behind.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, describe, test } from 'node:test'
import { setImmediate as turn } from 'node:timers/promises'
import { Cluster, Redis } from 'ioredis'
import { createClient as createClient5, createCluster as createCluster5 } from 'node-redis5'
import { createClient as createClient6, createCluster as createCluster6 } from 'node-redis6'
import { createFleet } from '../../src/index.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { countWarnings } from '../harness/warnings.ts'

/** What these tests need of any of the clients. */
interface Emitter {
  eventNames(): (string | symbol)[]
  listenerCount(event: string | symbol): number
}

interface Kind {
  open(servers: { standalone: string; cluster: string[] }): Promise<Emitter>
  /** The emitters of the client that redfleet listens to: a node-redis cluster's masters' clients too. */
  emitters(client: Emitter): Emitter[]
  close(client: Emitter): Promise<void>
}

const alone = (client: Emitter) => [client]
type NodeRedisClient = Emitter & { connect(): Promise<unknown>; close(): Promise<unknown> }
type NodeRedisCluster = NodeRedisClient & { masters: { client?: Emitter }[] }
/** createClient and createCluster of node-redis 5 and 6, as these tests call them. */
type Make = (options: object) => NodeRedisClient
const withMasters = (client: Emitter) => [
  client,
  ...(client as NodeRedisCluster).masters.flatMap((master) => (master.client ? [master.client] : [])),
]

const KINDS: Record<string, Kind> = {
  'an ioredis client': {
    open: async ({ standalone }) => new Redis(standalone),
    emitters: alone,
    close: async (client) => void (client as Redis).disconnect(),
  },
  'an ioredis Cluster': {
    open: async ({ cluster }) => new Cluster(cluster),
    emitters: alone,
    close: async (client) => void (client as Cluster).disconnect(),
  },
  ...Object.fromEntries(
    (
      [
        ['node-redis 5', createClient5, createCluster5],
        ['node-redis 6', createClient6, createCluster6],
      ] as unknown as [string, Make, Make][]
    ).flatMap(([version, createClient, createCluster]) => [
      [
        `a ${version} client`,
        {
          open: async ({ standalone }) => {
            const client = createClient({ url: standalone })
            await client.connect()
            return client
          },
          emitters: alone,
          close: async (client) => void (await (client as NodeRedisClient).close()),
        } satisfies Kind,
      ],
      [
        `a ${version} cluster`,
        {
          open: async ({ cluster }) => {
            const client = createCluster({ rootNodes: cluster.map((url) => ({ url })) })
            await client.connect()
            return client
          },
          emitters: withMasters,
          close: async (client) => void (await (client as NodeRedisCluster).close()),
        } satisfies Kind,
      ],
    ]),
  ),
}

/** How many listeners each emitter has, event by event. */
function listeners(emitters: Emitter[]): Record<string, number>[] {
  return emitters.map((emitter) =>
    Object.fromEntries(emitter.eventNames().map((event) => [String(event), emitter.listenerCount(event)])),
  )
}

for (const [name, kind] of Object.entries(KINDS)) {
  describe(`many fleets on ${name}`, () => {
    const opened: Emitter[] = []
    after(() => Promise.all(opened.map((client) => kind.close(client))))

    test('16 live fleets put one listener per event on it, and warn of no leak; closed, they leave none', async () => {
      const client = await kind.open(await testServers())
      opened.push(client)
      const fleetOn = () => createFleet({ client, namespace: uniqueNamespace('shared-client'), onError() {} })
      const use = async (fleet: ReturnType<typeof fleetOn>) => {
        await fleet.ready()
        await fleet.store().set('k', 1)
      }
      // The client's own listeners settle with its first commands.
      const first = fleetOn()
      await use(first)
      await first.close()
      const before = listeners(kind.emitters(client))
      const leaks = countWarnings('MaxListenersExceededWarning')
      try {
        const one = fleetOn()
        await use(one)
        const withOne = listeners(kind.emitters(client))
        const fleets = Array.from({ length: 15 }, fleetOn)
        await Promise.all(fleets.map(use))
        await turn()
        assert.deepEqual(leaks.messages, [])
        assert.deepEqual(listeners(kind.emitters(client)), withOne, 'as many listeners as with one fleet')
        await Promise.all([one, ...fleets].map((fleet) => fleet.close()))
        assert.deepEqual(listeners(kind.emitters(client)), before, 'none left once they are closed')
      } finally {
        leaks.stop()
      }
    })
  })
}

test('16 fleets on an ioredis client whose url names a db the server lacks: its reconnects warn of no leak', async () => {
  // Each fleet ended a refused SELECT's attempt itself, and every disconnect of ioredis adds a
  // 'close' listener to the socket: from the 10th fleet, Node warned once per attempt (helper-290).
  const client = new Redis(`${(await testServers()).standalone}/99`)
  client.on('error', () => undefined)
  const leaks = countWarnings('MaxListenersExceededWarning')
  const fleets = Array.from({ length: 16 }, () =>
    createFleet({ client, namespace: uniqueNamespace('no-such-db'), onError() {} }),
  )
  try {
    const refused = await Promise.all(
      fleets.map((fleet) =>
        fleet.ready().then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    )
    assert.ok(
      refused.every((error) => error instanceof Error && /no such db/.test(error.message)),
      `every ready() names the db: ${refused.map(String).join('; ')}`,
    )
    // The client's own reconnects: each attempt's socket would have carried a listener per fleet.
    for (let attempt = 0; attempt < 3; attempt++) await once(client, 'error')
    await turn()
    assert.deepEqual(leaks.messages, [])
  } finally {
    leaks.stop()
    await Promise.all(fleets.map((fleet) => fleet.close()))
    client.disconnect()
  }
})
