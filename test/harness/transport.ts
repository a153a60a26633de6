import { isDeepStrictEqual } from 'node:util'
import { Cluster, Redis } from 'ioredis'
import { createFleet, type Fleet, type FleetOptions, type TopologyKind } from '../../src/index.ts'
import { destroyClient, type NodeRedisClient } from '../../src/transport/node-redis-client.ts'
import { testServers } from './servers.ts'

/**
 * `REDFLEET_TEST_TRANSPORT=node-redis5` (or `node-redis6`, the dev aliases of @redis/client):
 * the contract suites' standalone fleets run on an injected node-redis client of that version
 * instead of a url, and their cluster fleets on an injected node-redis cluster (createCluster);
 * the sharded ring stays on ioredis.
 *
 * `REDFLEET_TEST_TRANSPORT=ioredis`: the same with an injected ioredis `Redis` or `Cluster`, made
 * with ioredis' own defaults, as a user's would be.
 *
 * `REDFLEET_TEST_TRANSPORT=node-redis`: their fleets from urls (standalone, sharded, cluster) are
 * made with `transport: 'node-redis'`, on the node-redis that REDFLEET_TEST_NODE_REDIS names
 * (default: what redfleet itself imports, `redis` or `@redis/client`).
 */
export const TRANSPORT_ENV = 'REDFLEET_TEST_TRANSPORT'

interface Closable {
  on(event: 'error', listener: (error: unknown) => void): unknown
}

interface NodeRedisModule {
  createClient(options: { url: string }): Closable
  createCluster(options: { rootNodes: { url: string }[] }): Closable & { destroy(): unknown }
}

/**
 * A fleet with `options`, on the transport TRANSPORT_ENV names when it covers the topology and
 * the options are the topology's own (a test that gives its own url or client keeps it). The
 * client is the test's, as a user's would be: closed after the fleet, never by it.
 */
export async function createTestFleet(topology: TopologyKind, options: FleetOptions): Promise<Fleet> {
  const module = process.env[TRANSPORT_ENV]
  if (!module) return createFleet(options)
  if (module === 'node-redis') {
    return createFleet(options.url !== undefined ? { ...options, transport: 'node-redis' } : options)
  }
  const servers = await testServers()
  const { url, cluster: _cluster, ...rest } = options
  let client: Closable
  let destroy: () => void
  if (module === 'ioredis') return injectedIORedis(topology, options, servers)
  if (topology === 'standalone' && url === servers.standalone) {
    const standalone = ((await import(module)) as NodeRedisModule).createClient({ url })
    client = standalone
    destroy = () => destroyClient(standalone as unknown as NodeRedisClient)
  } else if (topology === 'cluster' && options.cluster === true && isDeepStrictEqual(url, servers.cluster)) {
    const cluster = ((await import(module)) as NodeRedisModule).createCluster({
      rootNodes: servers.cluster.map((seed) => ({ url: seed })),
    })
    client = cluster
    destroy = () => void cluster.destroy()
  } else {
    return createFleet(options)
  }
  // Its failures reach the tests through the fleet; unheard, node-redis would throw them.
  client.on('error', () => undefined)
  const fleet = createFleet({ ...rest, client })
  const close = fleet.close.bind(fleet)
  fleet.close = async () => {
    await close()
    destroy()
  }
  return fleet
}

/** A fleet on an ioredis client of the test's own (standalone or cluster), closed after the fleet. */
async function injectedIORedis(
  topology: TopologyKind,
  options: FleetOptions,
  servers: Awaited<ReturnType<typeof testServers>>,
): Promise<Fleet> {
  const { url, cluster: _cluster, ...rest } = options
  let client: Redis | Cluster
  if (topology === 'standalone' && url === servers.standalone) client = new Redis(url)
  else if (topology === 'cluster' && options.cluster === true && isDeepStrictEqual(url, servers.cluster)) {
    client = new Cluster(servers.cluster.map((seed) => seed))
  } else return createFleet(options)
  // Its failures reach the tests through the fleet.
  client.on('error', () => undefined)
  const fleet = createFleet({ ...rest, client })
  const close = fleet.close.bind(fleet)
  fleet.close = async () => {
    await close()
    client.disconnect()
  }
  return fleet
}
