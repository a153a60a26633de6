import { createFleet, type Fleet, type FleetOptions, type TopologyKind } from '../../src/index.ts'
import { destroyClient, type NodeRedisClient } from '../../src/transport/node-redis-client.ts'
import { testServers } from './servers.ts'

/**
 * `REDFLEET_TEST_TRANSPORT=node-redis5` (or `node-redis6`, the dev aliases of @redis/client):
 * the contract suites' standalone fleets run on an injected node-redis client of that version
 * instead of a url; the other topologies stay on ioredis.
 */
export const TRANSPORT_ENV = 'REDFLEET_TEST_TRANSPORT'

interface NodeRedisModule {
  createClient(options: { url: string }): {
    on(event: 'error', listener: (error: unknown) => void): unknown
  }
}

/**
 * A fleet with `options`, on the transport TRANSPORT_ENV names when it covers the topology and
 * the options are the topology's own (a test that gives its own url or client keeps it). The
 * client is the test's, as a user's would be: closed after the fleet, never by it.
 */
export async function createTestFleet(topology: TopologyKind, options: FleetOptions): Promise<Fleet> {
  const module = process.env[TRANSPORT_ENV]
  if (!module || topology !== 'standalone' || options.url !== (await testServers()).standalone) {
    return createFleet(options)
  }
  const { createClient } = (await import(module)) as NodeRedisModule
  const client = createClient({ url: options.url })
  // Its failures reach the tests through the fleet; unheard, node-redis would throw them.
  client.on('error', () => undefined)
  const { url: _url, ...rest } = options
  const fleet = createFleet({ ...rest, client })
  const close = fleet.close.bind(fleet)
  fleet.close = async () => {
    await close()
    destroyClient(client as unknown as NodeRedisClient)
  }
  return fleet
}
