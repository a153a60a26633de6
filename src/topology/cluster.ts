import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import { ConfigError, ConnectionError, messageOf } from '../errors.ts'
import {
  type ConnectionSettings,
  clusterOptions,
  coalesceWrites,
  connectAndPing,
  reconnectDelay,
  reportErrors,
  type ServerAddress,
} from './connection.ts'
import type { IORedisModule } from './ioredis.ts'
import { groupKeys, pipelinePerNode } from './pipeline.ts'
import type { Client, KeyBatch, MasterNode, RedisTopology } from './types.ts'

/**
 * A real Redis Cluster through ioredis' Cluster client, which follows MOVED/ASK itself.
 * Multi-key commands are split per slot (the only unit Redis Cluster accepts) and the slot
 * groups of one master travel in one pipeline.
 */
export class ClusterTopology implements RedisTopology {
  readonly kind = 'cluster' as const
  readonly #clients: Cluster[]
  readonly #owned: boolean
  readonly #settings: ConnectionSettings
  #next = 0
  #connecting: Promise<void> | undefined

  private constructor(clients: Cluster[], owned: boolean, settings: ConnectionSettings) {
    this.#clients = clients
    this.#owned = owned
    this.#settings = settings
  }

  static fromUrls(
    ioredis: IORedisModule,
    seeds: ServerAddress[],
    settings: ConnectionSettings,
  ): ClusterTopology {
    if (seeds.length === 0) throw new ConfigError('cluster: true needs at least one url to seed from')
    const nodes = seeds.map(({ url }) => {
      const parsed = new URL(url)
      return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 6379) }
    })
    const first = new URL(seeds[0]!.url)
    const auth = {
      ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    }
    const options = clusterOptions(settings)
    options.redisOptions = { ...options.redisOptions, ...auth }
    const clients = Array.from({ length: settings.poolSize }, () => {
      const cluster = new ioredis.Cluster(nodes, options)
      reportErrors(cluster, settings, 'cluster connection')
      return cluster
    })
    return new ClusterTopology(clients, true, settings)
  }

  static fromClient(client: Cluster, settings: ConnectionSettings): ClusterTopology {
    return new ClusterTopology([client], false, settings)
  }

  #pick(): Cluster {
    const client = this.#clients[this.#next]!
    this.#next = (this.#next + 1) % this.#clients.length
    // The Cluster client picks the node itself: every master's socket coalesces this tick.
    for (const node of client.nodes('master')) coalesceWrites(node)
    return client
  }

  /** Waits until every pooled client knows the slot map (needed to group keys by master). */
  #slotsReady(): Promise<void> {
    if (this.#clients.every((c) => c.status === 'ready')) return Promise.resolve()
    this.#connecting ??= Promise.all(this.#clients.map(waitUntilReady))
      .then(() => undefined)
      .finally(() => {
        this.#connecting = undefined
      })
    return this.#connecting
  }

  async ready(): Promise<void> {
    await this.#slotsReady()
    const masters = await this.masters()
    await Promise.all(masters.map((m) => connectAndPing(m.client, m.id)))
  }

  async close(): Promise<void> {
    if (!this.#owned) return
    await Promise.all(
      this.#clients.map(async (c) => {
        if (c.status === 'ready') await c.quit().catch(() => c.disconnect())
        else c.disconnect()
      }),
    )
  }

  client(_key: string): Client {
    return this.#pick()
  }

  async batches(keys: readonly string[]): Promise<KeyBatch[]> {
    if (keys.length === 0) return []
    await this.#slotsReady()
    const slots = this.#clients[0]!.slots
    return groupKeys(
      keys,
      (key) => String(calculateSlot(key)),
      (slot) => slots[Number(slot)]?.[0] ?? 'unknown',
    )
  }

  pipeline(
    batches: readonly KeyBatch[],
    build: Parameters<RedisTopology['pipeline']>[1],
  ): Promise<unknown[][]> {
    const client = this.#pick()
    return pipelinePerNode(batches, () => client, build)
  }

  batchClient(_batch: KeyBatch): Client {
    return this.#pick()
  }

  async masters(): Promise<MasterNode[]> {
    await this.#slotsReady()
    return this.#pick()
      .nodes('master')
      .map((client) => ({ id: `${client.options.host}:${client.options.port}`, client }))
  }

  async dedicated(key: string): Promise<Redis> {
    await this.#slotsReady()
    const node = this.#clients[0]!.slots[calculateSlot(key)]?.[0]
    if (!node) throw new ConnectionError(`no cluster master serves the slot of '${key}'`)
    return this.dedicatedToNode(node)
  }

  async dedicatedToNode(nodeId: string): Promise<Redis> {
    const master = (await this.masters()).find((m) => m.id === nodeId)
    if (!master) throw new ConnectionError(`no cluster master ${nodeId}`)
    const client = master.client.duplicate({
      lazyConnect: true,
      commandTimeout: undefined,
      maxRetriesPerRequest: null,
      readOnly: false,
      // The Cluster gives its node clients no retry strategy (it re-maps slots instead); a
      // dedicated connection has to reconnect by itself.
      retryStrategy: reconnectDelay,
    })
    reportErrors(client, this.#settings, `connection ${nodeId}`)
    return client
  }
}

async function waitUntilReady(cluster: Cluster): Promise<void> {
  if (cluster.status === 'ready') return
  if (cluster.status === 'wait') {
    try {
      await cluster.connect()
      return
    } catch (error) {
      throw new ConnectionError(`cannot reach the Redis Cluster: ${messageOf(error)}`, { cause: error })
    }
  }
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      cluster.off('end', onEnd)
      resolve()
    }
    const onEnd = () => {
      cluster.off('ready', onReady)
      reject(new ConnectionError('the Redis Cluster connection was closed'))
    }
    cluster.once('ready', onReady)
    cluster.once('end', onEnd)
  })
}
