import type { Fleet } from '../../src/index.ts'
import { fileServers } from './file-servers.ts'
import { type RedisServer, startCluster } from './redis-server.ts'

/** The cluster a file's tests share: its nodes' urls and servers, once `before` has run. */
export interface FileCluster {
  readonly urls: string[]
  readonly servers: RedisServer[]
}

/**
 * A 3-master cluster of the test file's own (startCluster), started before its tests, and the
 * fleets its tests open: they are closed after the tests, then the cluster is stopped.
 */
export function fileCluster(): { cluster: FileCluster; fleets: Fleet[] } {
  const { servers: running, fleets } = fileServers('cluster', startCluster)
  const cluster: FileCluster = {
    get urls() {
      return running().urls
    },
    get servers() {
      return running().servers
    },
  }
  return { cluster, fleets }
}
