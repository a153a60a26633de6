import { after } from 'node:test'
import { Cluster } from 'ioredis'
import { createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { fileServers } from './file-servers.ts'
import { type RedisServer, startCluster } from './redis-server.ts'

/** The cluster a file's tests share: its nodes' urls and servers, once `before` has run. */
export interface FileCluster {
  readonly urls: string[]
  readonly servers: RedisServer[]
}

/** How a fleet reaches the cluster: redfleet's own clients on a transport, or a user's ioredis Cluster. */
export type ClusterFleetKind = 'ioredis' | 'node-redis' | 'injected ioredis'

/**
 * A 3-master cluster of the test file's own (startCluster), started before its tests, and the
 * fleets its tests open: they are closed after the tests, then the cluster is stopped.
 * `fleetOn` opens a fleet on it (kept in `fleets`) with `options`, given as `client` an ioredis
 * Cluster of the file's own for 'injected ioredis' (disconnected after the tests).
 */
export function fileCluster(): {
  cluster: FileCluster
  fleets: Fleet[]
  fleetOn(kind: ClusterFleetKind, namespace: string, options?: FleetOptions): Fleet
} {
  const { servers: running, fleets } = fileServers('cluster', startCluster)
  const cluster: FileCluster = {
    get urls() {
      return running().urls
    },
    get servers() {
      return running().servers
    },
  }
  const clients: Cluster[] = []
  after(() => {
    for (const client of clients) client.disconnect()
  })
  const fleetOn = (kind: ClusterFleetKind, namespace: string, options: FleetOptions = {}) => {
    let fleet: Fleet
    if (kind === 'injected ioredis') {
      const client = new Cluster(cluster.urls)
      clients.push(client)
      fleet = createFleet({ ...options, client, namespace })
    } else {
      fleet = createFleet({ ...options, url: cluster.urls, cluster: true, transport: kind, namespace })
    }
    fleets.push(fleet)
    return fleet
  }
  return { cluster, fleets, fleetOn }
}
