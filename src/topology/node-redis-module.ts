import type { NodeRedisClient } from '../transport/node-redis-client.ts'
import type { NodeRedisCluster } from '../transport/node-redis-cluster.ts'
import { peerLoader } from './peer.ts'

/** What redfleet uses of node-redis' module (`redis`, or `@redis/client` alone), 5 or 6. */
export interface NodeRedisModule {
  createClient(options: object): NodeRedisClient
  createCluster(options: object): NodeRedisCluster
}

/**
 * Imports node-redis on first use by a fleet with `transport: 'node-redis'`: the `redis` package
 * users install, or `@redis/client` (the client `redis` re-exports) when only that is installed.
 * REDFLEET_TEST_NODE_REDIS names another installed copy instead: CI runs the contract suites on
 * node-redis 5 and 6 that way (the dev aliases node-redis5 and node-redis6).
 */
export const loadNodeRedis = peerLoader<NodeRedisModule>(() => {
  const override = process.env.REDFLEET_TEST_NODE_REDIS
  return override ? [override] : ['redis', '@redis/client']
}, 'redis')
