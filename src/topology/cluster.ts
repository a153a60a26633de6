import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import { ConfigError, ConnectionError, messageOf, TimeoutError } from '../errors.ts'
import { mgetPerKeyIfRefused } from '../transport/split-keys.ts'
import type { CommandPipeline } from '../transport/types.ts'
import { clientView } from './client-view.ts'
import { ClusterHealth, masterReady } from './cluster-health.ts'
import {
  type ConnectionSettings,
  closeClient,
  clusterOptions,
  coalesceWrites,
  DEDICATED_DUPLICATE,
  ioredisTls,
  reconnectDelay,
  refusalRetryDelay,
  type ServerAddress,
  timeCommands,
} from './connection.ts'
import { HealthRegistry, limitHandshake, watchConnection, watchDedicated } from './health.ts'
import type { IORedisModule } from './ioredis.ts'
import { inTurn, slotsReplyMatches } from './layout-check.ts'
import { LayoutListeners } from './layout-listeners.ts'
import { groupKeys, type PipelineGuard, pipelinePerNode } from './pipeline.ts'
import { keySlot, SLOT_COUNT } from './slot.ts'
import { rereadFromAnswering, rereadSlots } from './slot-reread.ts'
import { type SetCommand, sendSet } from './tick-batch.ts'
import type { Access, Client, KeyBatch, MasterNode, RedisTopology } from './types.ts'

/**
 * A real Redis Cluster through ioredis' Cluster client, which follows MOVED/ASK itself.
 * Multi-key commands are split per slot (the only unit Redis Cluster accepts) and the slot
 * groups of one master travel in one pipeline.
 */
export class ClusterTopology implements RedisTopology {
  readonly kind = 'cluster' as const
  readonly oneConnection = false
  readonly inOrderOnceWritten = false
  readonly #clients: Cluster[]
  readonly #owned: boolean
  readonly #settings: ConnectionSettings
  readonly #health: HealthRegistry
  /** Whether the cluster as a whole can be reached (and is a cluster at all). */
  readonly #reach: ClusterHealth
  #connecting: Promise<void> | undefined
  readonly #layoutListeners = new LayoutListeners()
  #layoutHooked = false
  /** When doubtLayout last had the slot maps re-read, and that re-read while it lasts. */
  #lastDoubt = Number.NEGATIVE_INFINITY
  #doubtRead: Promise<unknown> | undefined
  /** How many times checkLayout has looked: which master it asks next (inTurn). */
  #layoutChecks = 0
  /** The slot-map re-read a MOVED asked for (slotMoved), while it lasts. */
  #movedRead: Promise<unknown> | undefined
  #closed = false
  /** What this topology adds to its pipelines: their deadline, and their words for MOVED. */
  readonly #guard: PipelineGuard

  private constructor(
    clients: Cluster[],
    owned: boolean,
    settings: ConnectionSettings,
    health: HealthRegistry,
    reach: ClusterHealth,
  ) {
    this.#clients = clients
    this.#owned = owned
    this.#settings = settings
    this.#health = health
    this.#reach = reach
    // How long a node has to answer a PING before a slot-map re-read asks another.
    const answerWithin = settings.commandTimeout > 0 ? settings.commandTimeout : settings.connectTimeout
    for (const client of clients) rereadFromAnswering(client, answerWithin)
    this.#guard = {
      within: settings.commandTimeout,
      expired: (pipe, batches) => this.#pipelineExpired(pipe, batches),
      failure: (error, batch) => this.#unreachable(error, batch) ?? error,
    }
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
    // Commands are timed by timeCommands on each node connection (below), as on one server: a
    // WAIT gets its own timeout on top, which ioredis' per-command timer would cut off.
    options.redisOptions = {
      ...options.redisOptions,
      ...auth,
      ...ioredisTls(seeds[0]!.url),
      commandTimeout: undefined,
    }
    const health = new HealthRegistry(settings.onError)
    const reach = new ClusterHealth(nodes.map((n) => `${n.host}:${n.port}`).join(', '), settings.onError)
    const clients = Array.from({ length: settings.poolSize }, () => {
      const cluster = new ioredis.Cluster(nodes, options)
      reach.watch(cluster)
      // Each master's connection fails fast while that master is known to be down. One that ioredis
      // takes out of its pool before closing it (a master turned replica holds no slot) was let go,
      // not lost: the node stays up.
      cluster.on('+node', (node: Redis) => {
        const discarded = () => !cluster.nodes('all').includes(node)
        watchConnection(node, health.of(nodeIdOf(node)), settings.reconnectAttempts, true, discarded)
        // The handshake is not timed by timeCommands: a master that accepts the connection and
        // never answers (frozen) is bounded by connectTimeout, as one server is.
        limitHandshake(node, settings.connectTimeout)
        timeCommands(node, settings.commandTimeout, true)
      })
      return cluster
    })
    return new ClusterTopology(clients, true, settings, health, reach)
  }

  /**
   * Wraps a user's Cluster; redfleet never closes it. Only its readiness is followed, and
   * redfleet's calls go through a view of it (clientView) that times them out
   * (`commandTimeout`); the user's own calls, and its node clients, are left alone.
   */
  static fromClient(client: Cluster, settings: ConnectionSettings): ClusterTopology {
    const reach = new ClusterHealth('the given Cluster client', settings.onError)
    const view = clientView(client)
    // Sends its commands again (a pipeline's rounds after MOVED, ASK or TRYAGAIN): see handOver.
    timeCommands(view, settings.commandTimeout, true)
    // Its own options otherwise, as the user set them: CLUSTERDOWN fails redfleet's command at
    // once, as on redfleet's own Cluster (clusterOptions).
    // TRYAGAIN is sent again within commandTimeout, as on redfleet's own Cluster: with ioredis'
    // default delay its retries outlasted the command's deadline, and a refusal that says the
    // command ran nowhere was told as a timeout whose outcome is unknown.
    view.options = Object.create(client.options ?? null, {
      retryDelayOnClusterDown: { value: 0 },
      retryDelayOnTryAgain: { value: refusalRetryDelay(settings.commandTimeout) },
    })
    return new ClusterTopology([view], false, settings, new HealthRegistry(settings.onError), reach)
  }

  /**
   * The pooled client of a lane (`pool.size` > 1): a key's commands always take the lane of its
   * slot, since Redis keeps the order of commands per connection only (SPEC §2).
   */
  #pick(lane = 0): Cluster {
    const client = this.#clients[lane]!
    // The Cluster client picks the node itself: every master's socket coalesces this tick.
    for (const node of client.nodes('master')) coalesceWrites(node)
    return client
  }

  #laneOf(slot: number): number {
    return slot % this.#clients.length
  }

  /** The client a key's commands go on: its lane's Cluster client, or its master (routedAstray). */
  #clientOf(key: string): Client {
    const lane = this.#clients.length === 1 ? 0 : this.#laneOf(calculateSlot(key))
    return (routedAstray(key) && this.#masterOf(lane, keySlot(key))) || this.#pick(lane)
  }

  /**
   * The connection of a lane's Cluster client to the master of `slot` as the slot map names it
   * (the socket the Cluster client itself sends that master's commands on), if known.
   */
  #masterOf(lane: number, slot: number): Redis | undefined {
    const client = this.#pick(lane)
    const id = client.slots[slot]?.[0]
    return id === undefined ? undefined : client.nodes('master').find((node) => nodeIdOf(node) === id)
  }

  /**
   * Waits until every pooled client knows the slot map (needed to group keys by master); fails
   * at once while the cluster is known to be unreachable or not a cluster at all.
   */
  #slotsReady(): Promise<void> {
    if (this.#clients.every((c) => c.status === 'ready')) return Promise.resolve()
    const refusal = this.#reach.refusalIfDown('CLUSTER SLOTS')
    if (refusal) return Promise.reject(refusal)
    this.#connecting ??= Promise.all(this.#clients.map((c) => this.#reach.untilReady(c)))
      .then(() => undefined)
      .finally(() => {
        this.#connecting = undefined
      })
    return this.#connecting
  }

  async ready(): Promise<void> {
    await this.#slotsReady()
    const masters = await this.masters()
    await Promise.all(masters.map((m) => masterReady(m, this.#health.of(m.id))))
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#reach.stop()
    this.#health.stop()
    // A user's Cluster outlives the fleet: it keeps none of the fleet's listeners.
    if (this.#layoutHooked) {
      for (const event of LAYOUT_EVENTS) this.#clients[0]!.off(event, this.#layoutListeners.notify)
    }
    if (!this.#owned) return
    await Promise.all(this.#clients.map((c) => closeClient(c)))
    // Its connection to the node it is asking is its own: it ends with that node's answer or
    // slotsRefreshTimeout, and asks no other node of a closed client.
    await this.#doubtRead
  }

  client(key: string): Client {
    return this.#clientOf(key)
  }

  /** One command each: keys of one tick rarely share a slot, and a step may not span slots. */
  get(key: string): Promise<string | null> {
    return this.#clientOf(key).get(key)
  }

  set(key: string, command: SetCommand): Promise<string | null> {
    return sendSet(this.#clientOf(key), key, command)
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return mgetPerKeyIfRefused(this.#clientOf(keys[0]!), keys)
  }

  async batches(keys: readonly string[]): Promise<KeyBatch[]> {
    if (keys.length === 0) return []
    await this.#slotsReady()
    if (this.#movedRead) await this.#movedRead
    const slots = this.#clients[0]!.slots
    return groupKeys(
      keys,
      // A key routed astray is a batch of its own, sent to its master (ASTRAY) by batchClient.
      (key) => (routedAstray(key) ? `astray ${key}` : calculateSlot(key)),
      (key) => {
        if (routedAstray(key)) return { node: slots[keySlot(key)]?.[0] ?? 'unknown', lane: ASTRAY }
        const slot = calculateSlot(key)
        return { node: slots[slot]?.[0] ?? 'unknown', lane: this.#laneOf(slot) }
      },
    )
  }

  pipeline(
    batches: readonly KeyBatch[],
    build: Parameters<RedisTopology['pipeline']>[1],
    access?: Access,
  ): Promise<unknown[][]> {
    return pipelinePerNode(batches, (batch) => this.batchClient(batch), build, this.#guard, access)
  }

  /**
   * A pipeline that outlived commandTimeout: ioredis' per-command timer bounds only its first
   * round. A round refused with CLUSTERDOWN (or TRYAGAIN) is sent again once the slot map has been
   * re-read, and that re-read waits up to slotsRefreshTimeout (connectTimeout) on each node that
   * does not answer (a stopped master): 16 such rounds took seconds. ioredis may still send it
   * again, so whether Redis applies it is unknown.
   */
  #pipelineExpired(pipe: CommandPipeline, batches: readonly KeyBatch[]): TimeoutError {
    const nodes = [...new Set(batches.map((batch) => batch.node))].join(', ')
    const last = lastFailedReply(pipe)
    return new TimeoutError(
      `a pipeline of ${pipe.length} commands to ${nodes} got no answer within commandTimeout ` +
        `(${this.#settings.commandTimeout} ms)` +
        (last === undefined ? '' : `: the cluster client was still retrying after "${last}"`),
      { outcome: 'unknown' },
    )
  }

  /**
   * The error of a pipeline's reply that ended MOVED to a master this client has no ready
   * connection to, or undefined. ioredis drops the connection of a master that went down (node
   * clients do not reconnect) while the slot map still names it: a pipeline for its slots then
   * goes to another master, which redirects it back, and ioredis' pipelines (unlike its single
   * commands) follow MOVED without connecting again, until maxRedirections. Every round was
   * refused, so nothing of it was applied.
   */
  #unreachable(error: unknown, batch: KeyBatch): ConnectionError | undefined {
    return movedOf(error) ? this.#movedToUnreachable(error, batch.lane) : this.#connectionLost(error, batch)
  }

  /** A MOVED to a master the client of `lane` has no ready connection to, as what it means (see #unreachable). */
  #movedToUnreachable(error: unknown, lane: number): ConnectionError | undefined {
    const moved = movedOf(error)
    if (!moved) return undefined
    const { slot, node: target } = moved
    const client = this.#clients[Math.max(lane, 0)] ?? this.#clients[0]!
    if (client.nodes('all').some((node) => nodeIdOf(node) === target && node.status === 'ready'))
      return undefined
    // Only a slot-map re-read gives ioredis a connection to the node again (its single commands
    // connect on MOVED, its pipelines do not): without one, every multi-node call made until
    // some single-key command reconnected it was refused the same way (seconds). While the node
    // is known down too: that connection is its probe (refuseWhileDown), and without it a node
    // back up stayed down for as long as only pipelines were sent its way.
    this.doubtLayout()
    const health = this.#health.of(target)
    if (health.down) return health.refusal('pipeline')
    return new ConnectionError(
      `pipeline not sent: Redis at ${target} is unreachable (${health.reasonOr(undefined)}): the slot map ` +
        `names it the master of slot ${slot}, the cluster client has no connection to it, and the ` +
        `other masters redirect there (MOVED); it is not known to be down yet`,
      { cause: error, outcome: 'not-applied' },
    )
  }

  /**
   * ioredis' "Connection is closed." of a batch's node (its connection lost, or a new one to a
   * node that went down refused), named: the node, and why as far as its health knows. The
   * pipeline may have been written before the connection closed: its outcome is unknown.
   */
  #connectionLost(error: unknown, batch: KeyBatch): ConnectionError | undefined {
    if (!CONNECTION_CLOSED.test(messageOf(error))) return undefined
    const health = this.#health.of(batch.node)
    const state = health.down ? 'is down' : 'is unreachable'
    return new ConnectionError(`Redis at ${batch.node} ${state} (${health.reasonOr(error)})`, {
      cause: error,
      outcome: 'unknown',
    })
  }

  batchClient(batch: KeyBatch): Client {
    if (batch.lane === ASTRAY) return this.#clientOf(batch.keys[0]!)
    return this.#pick(batch.lane)
  }

  async masters(): Promise<MasterNode[]> {
    await this.#slotsReady()
    // Commands sent before on the other lanes' clients are run first (see ServerPool.caughtUp).
    await Promise.all(
      this.#clients
        .slice(1)
        .flatMap((client) => client.nodes('master').map((node) => node.ping().catch(() => undefined))),
    )
    return this.#pick()
      .nodes('master')
      .map((client) => ({ id: nodeIdOf(client), client }))
  }

  nodeOf(key: string): string | undefined {
    return this.#clients[0]!.slots[calculateSlot(key)]?.[0]
  }

  slotOwners(): (string | undefined)[] | undefined {
    const { slots } = this.#clients[0]!
    if (slots.length === 0) return undefined
    const owners: (string | undefined)[] = []
    for (let slot = 0; slot < SLOT_COUNT; slot++) owners.push(slots[slot]?.[0])
    return owners
  }

  onLayoutChange(listener: () => void): () => void {
    if (!this.#layoutHooked) {
      // One listener per event on the client, whatever the number of near caches.
      for (const event of LAYOUT_EVENTS) this.#clients[0]!.on(event, this.#layoutListeners.notify)
      this.#layoutHooked = true
    }
    return this.#layoutListeners.add(listener)
  }

  refreshLayout(): Promise<void> {
    return rereadSlots(this.#clients[0]!)
  }

  /**
   * On a ready master's connection, timed as any command: ioredis opens a connection of its own
   * for each reload, and a near cache's periodic look reloaded four times a second (helper-227:
   * 14,000 connections an hour per process, each left waiting to close).
   */
  async checkLayout(): Promise<void> {
    const client = this.#clients[0]!
    const ready = client.status === 'ready' ? client.nodes('master').filter((n) => n.status === 'ready') : []
    const node = inTurn(ready, this.#layoutChecks++)
    const reply = await node?.call('CLUSTER', 'SLOTS').catch(() => undefined)
    if (!slotsReplyMatches(reply, this.slotOwners(), node?.options.host ?? '')) await this.refreshLayout()
  }

  #rereadAll(): Promise<unknown> {
    return Promise.all(this.#clients.map(rereadSlots))
  }

  doubtLayout(): void {
    const now = performance.now()
    if (this.#closed || now - this.#lastDoubt < LAYOUT_DOUBT_INTERVAL) return
    this.#lastDoubt = now
    // Each pooled client keeps a slot map of its own.
    this.#doubtRead = this.#rereadAll()
  }

  /**
   * ioredis follows a single command's MOVED (and updates its slot map), but not one a pipeline
   * got for some of its commands: it hands that reply back, and a retry grouped by the same map
   * went to the same master again. Not rate-limited as doubtLayout is: a MOVED comes from a
   * master that answers, and only after a slot moved.
   */
  slotMoved(error: unknown): ConnectionError | undefined {
    if (!this.#closed && !this.#movedRead) {
      this.#movedRead = this.#rereadUntil(movedOf(error)).finally(() => {
        this.#movedRead = undefined
      })
    }
    return this.#movedToUnreachable(error, 0)
  }

  /**
   * Re-reads the slot maps until they name `target.node` for `target.slot`, at most
   * MOVED_REREADS times: a re-read asked for while one is under way gets that one's answer,
   * which may be the map from before the move.
   */
  async #rereadUntil(target: { slot: number; node: string } | undefined): Promise<void> {
    for (let reread = 0; reread < MOVED_REREADS; reread++) {
      await this.#rereadAll()
      if (!target || this.#clients.every((client) => client.slots[target.slot]?.[0] === target.node)) return
    }
  }

  async dedicatedToNode(nodeId: string): Promise<Redis> {
    await this.#slotsReady()
    const master = this.#pick()
      .nodes('master')
      .find((node) => nodeIdOf(node) === nodeId)
    if (!master) throw new ConnectionError(`no cluster master ${nodeId}`)
    const client = master.duplicate({
      ...DEDICATED_DUPLICATE,
      readOnly: false,
      // The Cluster gives its node clients no retry strategy (it re-maps slots instead); a
      // dedicated connection has to reconnect by itself.
      retryStrategy: reconnectDelay,
    })
    // Blocking reads and subscriptions wait for the node: they only tell its health what they see.
    watchDedicated(client, this.#health.of(nodeId), this.#settings.reconnectAttempts)
    return client
  }
}

/** At most one re-read of the slot maps per this many ms for commands that time out (doubtLayout). */
const LAYOUT_DOUBT_INTERVAL = 1000

/** How ioredis fails a command whose connection closed (or never opened). */
const CONNECTION_CLOSED = /^Connection is closed\.$/

/**
 * The lane of batches whose key ioredis would route by another slot than Redis (routedAstray):
 * their commands go straight to their master's connection, in a pipeline of their own, since
 * ioredis' pipelines refuse keys it places on another master.
 */
const ASTRAY = -1

/**
 * Whether ioredis sends `key` to another slot than Redis hashes it to. A key whose first `{` is
 * closed at once (`{}`) has no hash tag for Redis, which hashes it whole (src/topology/slot.ts);
 * cluster-key-slot, which ioredis routes and checks pipelines with, reads up to a later `}`
 * instead. Such a key's multi-key commands would fail with CROSSSLOT or be refused.
 */
function routedAstray(key: string): boolean {
  const open = key.indexOf('{')
  return open !== -1 && key.charCodeAt(open + 1) === 0x7d && key.indexOf('}', open + 2) !== -1
}

/** What the client announces when its slot map or its set of nodes changed (onLayoutChange). */
const LAYOUT_EVENTS = ['refresh', '+node', '-node'] as const

/** A MOVED reply, raw or within an error's message (a CommandError names its operation first). */
const MOVED = /\bMOVED (\d+) (\S+)/

/** The slot a MOVED names, and the `host:port` of the master that serves it now. */
function movedOf(error: unknown): { slot: number; node: string } | undefined {
  const moved = MOVED.exec(messageOf(error))
  return moved ? { slot: Number(moved[1]), node: moved[2]! } : undefined
}

/** How many slot-map re-reads a MOVED may ask for before the retry goes anyway (slotMoved). */
const MOVED_REREADS = 3

/**
 * The first failed reply of a pipeline's latest round (ioredis keeps them in `_result`, not in
 * its typings), for the words of a pipeline that timed out; undefined if none failed yet.
 */
function lastFailedReply(pipe: CommandPipeline): string | undefined {
  const result = (pipe as unknown as { _result?: unknown })._result
  if (!Array.isArray(result)) return undefined
  for (const reply of result) {
    if (Array.isArray(reply) && reply[0] instanceof Error) return reply[0].message
  }
  return undefined
}

/** A master's MasterNode id: its `host:port` as the slot map names it. */
function nodeIdOf(node: Redis): string {
  return `${node.options.host}:${node.options.port}`
}
