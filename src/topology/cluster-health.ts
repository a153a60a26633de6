import type { Cluster } from 'ioredis'
import { type ConfigError, ConnectionError, messageOf, notACluster } from '../errors.ts'
import { connectAndPing } from './connection.ts'
import { type HealthSink, NodeHealth, refuseWhileDown } from './health.ts'
import type { MasterNode } from './types.ts'

/** What Redis answers CLUSTER SLOTS with when it runs without `cluster-enabled yes`. */
const CLUSTER_DISABLED = /cluster support disabled/i

/** The ConfigError of `cluster: true` when `error` is a server saying it is not a cluster node. */
export function notAClusterError(error: unknown, node: string): ConfigError | undefined {
  if (!CLUSTER_DISABLED.test(messageOf(error))) return undefined
  return notACluster(
    `cluster: true, but Redis at ${node} is not a Redis Cluster (cluster_enabled:0): remove ` +
      '`cluster: true` to use it as a standalone server, or give the urls of cluster nodes',
  )
}

/**
 * Whether a Cluster client can reach its cluster at all (SPEC §1): while its last attempt to
 * load the slot map failed (every seed unreachable, or a seed that is not a cluster), every
 * command fails at once, with ConnectionError naming the seeds or ConfigError (ERR_NOT_A_CLUSTER)
 * naming the server, instead of waiting in ioredis' offline queue for a slot map that never
 * comes. ioredis keeps trying in the background; the first success lets commands through again.
 */
export class ClusterHealth {
  readonly #health: NodeHealth
  readonly #seeds: string
  #notACluster: ConfigError | undefined

  constructor(seeds: string, sink: HealthSink) {
    this.#seeds = seeds
    this.#health = new NodeHealth(seeds, sink, `the Redis Cluster at ${seeds}`)
  }

  watch(cluster: Cluster): void {
    // The node errors say why (ECONNREFUSED, a timeout, "cluster support disabled"); the
    // cluster's own error only says that loading the slot map failed.
    cluster.on('node error', (error: unknown, node: string) => {
      this.#health.noteFailure(error)
      this.#classify(error, node)
    })
    // Its own 'error' (ClusterAllFailedError) adds nothing to the node errors; announced on 'close'.
    cluster.on('error', () => undefined)
    // The client was ready since its last close: the next close is connections lost, not an attempt failed.
    let wasReady = false
    cluster.on('ready', () => {
      wasReady = true
      this.#notACluster = undefined
      this.#health.markUp()
    })
    // A failed attempt to load the slot map ends with 'close' (ioredis then retries). The other
    // close of a connect attempt, a failed ready check, cannot happen: clusterOptions turns it off.
    cluster.on('close', () => {
      if (this.#health.stopped) return
      // A ready client that lost every connection (a CLIENT KILL, a proxy's idle timeout, the
      // cluster's nodes restarting) reconnects at once; its calls wait for that attempt. Only an
      // attempt that fails makes the cluster known to be down (SPEC §8), as for one server.
      if (wasReady) {
        wasReady = false
        return
      }
      this.#health.markDown(undefined, this.#notACluster ?? this.#unreachable())
      flushOfflineQueue(cluster, this.refusalIfDown('command') ?? this.#unreachable())
    })
    refuseWhileDown(cluster, this)
  }

  /** Why commands fail now, or undefined while the cluster may be reached. */
  refusalIfDown(command: string): Error | undefined {
    if (!this.#health.down) return undefined
    const refused = this.#notACluster
    return refused ? notACluster(refused.message, true) : this.#health.refusal(command)
  }

  probeDue(): boolean {
    return this.#health.probeDue()
  }

  stop(): void {
    this.#health.stop()
  }

  /**
   * Connects if not yet and waits for the slot map; rejects at the first failed attempt. A client
   * that has ended (a user's, quit or given up by its clusterRetryStrategy) emits nothing again:
   * it is refused, never waited for nor reopened (it is the user's).
   */
  untilReady(cluster: Cluster): Promise<void> {
    if (cluster.status === 'ready') return Promise.resolve()
    if (hasEnded(cluster)) return Promise.reject(ended())
    return new Promise<void>((resolve, reject) => {
      // 'connect': the slot map is loaded and ioredis' ready check is in flight. A close after the
      // slot map loaded is that check failing (an injected client's own enableReadyCheck).
      let loaded = cluster.status === 'connect'
      const onRefresh = () => {
        loaded = true
      }
      const settle = () => {
        cluster.off('ready', onReady)
        cluster.off('close', onClose)
        cluster.off('end', onEnded)
        cluster.off('disconnecting', onEnded)
        cluster.off('refresh', onRefresh)
      }
      const onReady = () => {
        settle()
        resolve()
      }
      const onClose = () => {
        settle()
        if (hasEnded(cluster)) reject(ended())
        else if (loaded) reject(this.#readyCheckFailed())
        else reject(this.refusalIfDown('CLUSTER SLOTS') ?? this.#unreachable())
      }
      // quit() or disconnect() before it was ready leaves it 'disconnecting' for good: no 'close'.
      const onEnded = () => {
        if (!hasEnded(cluster)) return
        settle()
        reject(ended())
      }
      cluster.on('refresh', onRefresh)
      cluster.once('ready', onReady)
      cluster.once('close', onClose)
      cluster.on('end', onEnded)
      cluster.on('disconnecting', onEnded)
      if (cluster.status === 'wait') cluster.connect().catch(() => undefined)
    })
  }

  #classify(error: unknown, node: string): void {
    this.#notACluster ??= notAClusterError(error, node)
  }

  #readyCheckFailed(): ConnectionError {
    return new ConnectionError(
      `the Redis Cluster at ${this.#seeds} answered with its slot map, but the client's ready check ` +
        'failed (CLUSTER INFO got no reply in time, or said cluster_state:fail); it reconnects by itself',
      { cause: undefined, outcome: 'not-applied' },
    )
  }

  #unreachable(): ConnectionError {
    return new ConnectionError(
      `cannot reach the Redis Cluster at ${this.#seeds}: no seed answered (${this.#health.reason})`,
      { cause: undefined, outcome: 'not-applied' },
    )
  }
}

/** ioredis' own offline-queue flush of a Cluster (not in its typings). */
function flushOfflineQueue(cluster: Cluster, error: Error): void {
  ;(cluster as unknown as { flushQueue(error: Error): void }).flushQueue(error)
}

/**
 * `ready()` of one master of a cluster (ioredis' or node-redis'): connected and PINGed, and its
 * cluster serving. A cluster whose state is fail (a slot that no reachable master serves) answers
 * PING but refuses every command with CLUSTERDOWN: ready() says so rather than resolving.
 */
export async function masterReady(master: MasterNode, health: NodeHealth): Promise<void> {
  await connectAndPing(master.client, master.id, health)
  let info: string
  try {
    info = String(await master.client.call('CLUSTER', 'INFO'))
  } catch (error) {
    throw new ConnectionError(`cannot read CLUSTER INFO of ${master.id}: ${messageOf(error)}`, {
      cause: error,
      outcome: 'not-applied',
    })
  }
  if (/^cluster_state:fail\b/m.test(info)) {
    throw new ConnectionError(
      `the Redis Cluster is down: ${master.id} answers, but its cluster_state is fail (some slot ` +
        'is served by no reachable master), and Redis refuses commands with CLUSTERDOWN until it is ok',
      { cause: undefined, outcome: 'not-applied' },
    )
  }
}

/**
 * Whether an ioredis Cluster will not connect again by itself: it has ended, or it closes because
 * its owner called quit() or disconnect() (after which ioredis may leave it 'disconnecting', or
 * set it back to 'close' once its node pool drains, and emit nothing more).
 */
function hasEnded(cluster: Cluster): boolean {
  const { status } = cluster
  if (status === 'end') return true
  const closing = status === 'disconnecting' || status === 'close'
  return closing && (cluster as unknown as { manuallyClosing?: boolean }).manuallyClosing === true
}

/** What a call on an ioredis Cluster that has ended fails with: it was never sent. */
function ended(): ConnectionError {
  return new ConnectionError(
    'Connection is closed: the ioredis Cluster has ended (quit, disconnect, or its clusterRetryStrategy gave up) and redfleet does not reopen it',
    { cause: undefined, outcome: 'not-applied' },
  )
}
