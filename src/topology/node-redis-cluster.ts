import { setMaxListeners } from 'node:events'
import { started, withDeadline } from '../deadline.ts'
import { ConfigError, ConnectionError, messageOf, NodeDownError, notACluster } from '../errors.ts'
import { isRedirection } from '../loops.ts'
import { sleep } from '../sleep.ts'
import { type CommandDeadlines, processClock } from '../transport/deadlines.ts'
import {
  connectionDeadlines,
  NodeRedisCommands,
  NodeRedisConnection,
  timedSend,
} from '../transport/node-redis.ts'
import { anchorListeners, COMMAND_OPTIONS, type NodeRedisClient } from '../transport/node-redis-client.ts'
import type { NodeRedisCluster, NodeRedisClusterNode } from '../transport/node-redis-cluster.ts'
import { NodeRedisClusterDedicated } from '../transport/node-redis-cluster-dedicated.ts'
import { type QueuedCommands, queueOf, withdrawable } from '../transport/node-redis-offline.ts'
import { NodeRedisPipeline, type Resent } from '../transport/node-redis-pipeline.ts'
import { listenShared } from '../transport/shared-listeners.ts'
import { mgetPerKeyIfRefused } from '../transport/split-keys.ts'
import type { DedicatedConnection } from '../transport/types.ts'
import { masterReady, notAClusterError } from './cluster-health.ts'
import {
  type ConnectionSettings,
  closeClient,
  MAX_REDIRECTIONS,
  nodeRedisClusterDefaults,
  refusalRetryDelay,
  type ServerAddress,
} from './connection.ts'
import { HealthRegistry, type NodeHealth, watchDedicated } from './health.ts'
import { inTurn, slotsReplyMatches } from './layout-check.ts'
import { LayoutListeners } from './layout-listeners.ts'
import { NodeRedisWatch } from './node-redis-health.ts'
import type { NodeRedisModule } from './node-redis-module.ts'
import { groupKeys, pipelinePerNode } from './pipeline.ts'
import { keySlot, SLOT_COUNT } from './slot.ts'
import { type SetCommand, sendSet } from './tick-batch.ts'
import type { Access, Client, KeyBatch, MasterNode, RedisTopology } from './types.ts'

/** node-redis' RootNodesUnavailableError: no seed gave a slot map. */
const ROOT_NODES_UNAVAILABLE = 'All the root nodes are unavailable'

/**
 * At most one re-read of the slot map per this many ms while a master's client has no connection
 * (the longest reconnect delay: a failover is noticed as soon as a probe of the dead node would).
 */
export const LAYOUT_PROBE_INTERVAL = 250

/**
 * A user's node-redis cluster (`createCluster`), never closed by redfleet. A command goes straight
 * to the client of its slot's master, as the cluster's own slot map says; one that meets MOVED is
 * sent again to the master it names, and one that meets ASK or finds no ready client goes through
 * the cluster client, which follows redirections itself. Multi-key commands are split per slot,
 * like ClusterTopology's; blocking reads and subscriptions get a `duplicate()` of a master's client.
 */
export class NodeRedisClusterTopology implements RedisTopology {
  readonly kind = 'cluster' as const
  readonly oneConnection = false
  readonly inOrderOnceWritten = false
  readonly #cluster: NodeRedisCluster
  readonly #settings: ConnectionSettings
  readonly #health: HealthRegistry
  readonly #watch: NodeRedisWatch
  /** The command connection of each slot, made on first use: a route to its master. */
  readonly #routes: (NodeRedisCommands | undefined)[] = new Array(SLOT_COUNT)
  /** The command connection of each master's client (for SCAN, INFO, ready's PING). */
  readonly #nodeConnections = new WeakMap<NodeRedisClient, NodeRedisConnection>()
  /**
   * The command deadlines of each master's connection (by address; '' while a slot has none),
   * shared by the routes of its slots and its pipelines: it answers in order, so a WAIT of one
   * slot holds the commands of the others, which must wait with it (per slot, a read behind a
   * `waitFor` write of another slot timed out; helper-219).
   */
  readonly #deadlines = new Map<string, CommandDeadlines>()
  readonly #layoutListeners = new LayoutListeners()
  /** The slot map last seen: node-redis replaces the array each time it re-reads the cluster. */
  #layout: NodeRedisCluster['slots']
  /** Whether the cluster was ever seen open with a slot map: closed after that is the user's doing. */
  #wasOpen: boolean
  #opening: Promise<void> | undefined
  /** When a lost master last had the slot map re-read (processClock: a step of the wall clock back held it off). */
  #lastProbe = Number.NEGATIVE_INFINITY
  /** How many times checkLayout has looked: which master it asks next (inTurn). */
  #layoutChecks = 0
  /** When the slot map was last re-read by refreshLayout (processClock). */
  #lastLayoutRead = Number.NEGATIVE_INFINITY
  /** Aborted as close begins: a refused command is not sent again (retryRefusals). */
  readonly #closing = unlimitedController()
  /** Why the last opening failed to reach any seed: what calls are told while that lasts. */
  #unreachable: Error | undefined
  /** The slot-map re-read in flight: one at a time, and close waits for it. */
  #refreshing: Promise<void> | undefined
  #closed = false
  /** Stops listening to the cluster's 'error' (shared: a user's cluster may be given to many fleets). */
  readonly #stopListening: () => void
  /** What the errors call the cluster: the seeds of one redfleet made, else the user's client. */
  readonly #name: string
  /** The seeds, as errors name them. */
  readonly #seeds: string
  /** Whether redfleet made the cluster (from urls): then `close()` closes it. */
  readonly #owned: boolean
  /** Set when a seed said it is not a cluster node, while opening: every call fails with it. */
  #notACluster: ConfigError | undefined
  /**
   * The queues of the clients this topology sent commands to, through the cluster client while
   * their master had no connection (#viaCluster) or on a master's own connection (a node-wide
   * SCAN): what still waits there is withdrawn when the fleet lets go of a user's cluster.
   */
  readonly #queues = new Set<QueuedCommands>()
  /** The wait for each master's client that durable writes' commands chain on (#madeClient). */
  readonly #making = new Map<string, Promise<NodeRedisClient>>()
  /** Commands held for the opening and not handed on yet, and when the last of them is (#hold). */
  #held: { count: number; handedOn: Promise<void> } | undefined

  /**
   * A cluster of redfleet's own (`transport: 'node-redis'`) from the seed urls, opened now and
   * closed by `close()`. Its node clients take the seed's credentials (nodeRedisClusterDefaults).
   */
  static fromUrls(
    nodeRedis: NodeRedisModule,
    seeds: ServerAddress[],
    settings: ConnectionSettings,
  ): NodeRedisClusterTopology {
    // node-redis reads the slot map from a seed with a client of its own, closed only once the
    // seed answered: a seed that accepts and never answers (a frozen Redis) would keep its
    // socket, and the process, alive after close. That client alone takes the seeds' options:
    // its socket is dropped once silent for as long as opening the cluster may take.
    const discovery = { socketTimeout: settings.connectTimeout + settings.commandTimeout }
    const cluster = nodeRedis.createCluster({
      rootNodes: seeds.map((seed) => ({ url: seed.url, socket: discovery })),
      defaults: nodeRedisClusterDefaults(seeds[0]!.url, settings),
    })
    const owned = { seeds: seeds.map((seed) => seed.id).join(', ') }
    return new NodeRedisClusterTopology(cluster, settings, owned)
  }

  /** `owned`: the cluster is redfleet's, made from the urls of `seeds` (fromUrls). */
  constructor(cluster: NodeRedisCluster, settings: ConnectionSettings, owned?: { seeds: string }) {
    this.#cluster = cluster
    this.#name = owned ? `the Redis Cluster at ${owned.seeds}` : 'the node-redis cluster given as client'
    this.#seeds = owned?.seeds ?? 'a seed of the node-redis cluster given as client'
    this.#owned = owned !== undefined
    // Its errors are told by the clients of its nodes (NodeRedisWatch) and by the calls they fail.
    anchorListeners(cluster)
    this.#stopListening = listenShared(cluster, 'error', this.#onError)
    this.#settings = settings
    this.#health = new HealthRegistry(settings.onError)
    // The masters' clients are only listened to, as each is first used.
    this.#watch = new NodeRedisWatch(this.#health, settings.reconnectAttempts)
    this.#layout = cluster.slots
    this.#wasOpen = cluster.isOpen && cluster.masters.length > 0
    // Opened now if it is not yet, as a standalone node-redis client is (see fleet.ts).
    this.#open()?.catch(() => undefined)
  }

  /**
   * Undefined when the slot map is known; else opens the cluster (or waits for the user's own
   * `connect()` to discover it). A cluster closed after it was open stays closed: it is the user's.
   */
  #open(): Promise<void> | undefined {
    const cluster = this.#cluster
    if (cluster.isOpen && cluster.masters.length > 0) return undefined
    if (!cluster.isOpen && this.#wasOpen) {
      return Promise.reject(
        new ConnectionError('The client is closed: the node-redis cluster given as client was closed', {
          outcome: 'not-applied',
        }),
      )
    }
    // Known unreachable (SPEC §8): a call fails at once, not after a deadline of its own; one per
    // reconnect interval opens again (the probe), and the calls meanwhile do not wait for it.
    const reach = this.#health.of(this.#seeds)
    if (reach.down && (this.#opening !== undefined || !reach.probeDue())) {
      return Promise.reject(this.#stillUnreachable(reach))
    }
    if (this.#opening) return this.#opening
    this.#notACluster = undefined
    const opening = cluster.isOpen
      ? new Promise<void>((resolve) => cluster.once('connect', resolve))
      : cluster.connect().then(() => undefined)
    this.#opening = withDeadline(opening, this.#waitLimit(), () => unreachable(`${this.#name} did not open`))
      .then(
        () => {
          this.#wasOpen = true
          this.#health.of(this.#seeds).markUp()
        },
        (error: unknown) => {
          throw this.#openFailure(error)
        },
      )
      .finally(() => {
        this.#opening = undefined
        this.#noteLayout()
      })
    return this.#opening
  }

  /** Tells the layout listeners when node-redis has re-read the slot map since last looked. */
  #noteLayout(): void {
    const slots = this.#cluster.slots
    if (slots === this.#layout) return
    this.#layout = slots
    // The clients of masters no longer in it are closed by node-redis.
    this.#watch.forgetClosed()
    this.#layoutListeners.notify()
  }

  /** Why a seed failed comes in the cluster's 'error' while it is opened (also: not a cluster node). */
  readonly #onError = (error: unknown): void => {
    this.#health.of(this.#seeds).noteFailure(error)
    this.#notACluster ??= notAClusterError(error, this.#seeds)
  }

  /**
   * Why opening failed, in redfleet's words: not a cluster (SPEC §1), or no seed answered. It is
   * announced once (the seeds' health is down until the cluster opens), never once per call.
   */
  #openFailure(error: unknown): unknown {
    const reach = this.#health.of(this.#seeds)
    let failure: Error
    if (this.#notACluster) {
      failure = this.#notACluster
    } else if (messageOf(error) === ROOT_NODES_UNAVAILABLE) {
      failure = this.#seedsDown(`cannot reach ${this.#name}: no seed answered (${reach.reason})`, error)
    } else if (error instanceof ConnectionError) {
      failure = this.#seedsDown(error.message, error) // the opening's deadline
    } else {
      return error
    }
    if (!(failure instanceof ConfigError)) this.#unreachable = failure
    reach.markDown(undefined, failure)
    // This opening was the interval's probe: calls made just after it fail at once.
    reach.probeDue()
    return Object.assign(failure, { announced: true })
  }

  /**
   * The seeds known unreachable: a NodeDownError, which the calls' retries do not repeat (a
   * retry would open again, and wait out another deadline, once the probe interval passed).
   */
  #seedsDown(message: string, cause: unknown): NodeDownError {
    return new NodeDownError(message, this.#seeds, { cause })
  }

  /**
   * A call while the seeds are known unreachable: the announced words, as a NodeDownError (not
   * retried: failing at once is the point) or the not-a-cluster ConfigError.
   */
  #stillUnreachable(reach: NodeHealth): Error {
    const refused = this.#notACluster
    if (refused) return notACluster(refused.message, true)
    const down = this.#seedsDown(
      this.#unreachable?.message ?? reach.refusal('command').message,
      this.#unreachable,
    )
    return Object.assign(down, { announced: true })
  }

  async ready(): Promise<void> {
    const masters = await this.masters()
    await Promise.all(masters.map((m) => masterReady(m, this.#health.of(m.id))))
  }

  /**
   * Stops following the nodes' health; a user's cluster and its node clients stay theirs, a
   * cluster redfleet made is closed (closeClient: gracefully, or at once when that hangs).
   */
  async close(): Promise<void> {
    this.#closed = true
    this.#closing.abort()
    this.#health.stop()
    this.#watch.stop()
    // A re-read in flight makes node clients of its own: done before the user may destroy the
    // cluster, or they would connect after it and keep the process alive.
    await this.#refreshing
    if (!this.#owned) {
      this.#stopListening()
      // The user's cluster stays open: what still waits in its clients for a connection is
      // withdrawn, never sent after close (node-redis drops an aborted command not written yet).
      const letGo = (name: string) =>
        new ConnectionError(`${name} not sent: the fleet closed before the master had a connection`, {
          outcome: 'not-applied',
        })
      for (const queue of this.#queues) queue.withdrawAll(letGo, this)
      return
    }
    const cluster = this.#cluster
    // node-redis makes the node clients when its discovery ends, even once destroyed: closed
    // after it (within connectTimeout + commandTimeout, as #open bounds it).
    await this.#opening?.catch(() => undefined)
    // A node-redis client that closes waits for every answer, and can no longer be destroyed: a
    // frozen master's would keep its socket open for as long as it stays frozen. So each master
    // first answers a PING (after what was sent before it), else closeClient destroys them all.
    const ready = cluster.masters.flatMap((node) => (node.client?.isReady ? [node.client] : []))
    await closeClient({
      status: cluster.isOpen ? 'ready' : 'closed',
      quit: async () => {
        await Promise.all(ready.map((client) => client.sendCommand(['PING'])))
        await cluster.close()
      },
      disconnect: () => void cluster.destroy(),
    })
  }

  client(key: string): Client {
    return this.#route(key)
  }

  /** One command each: keys of one tick rarely share a slot, and a step may not span slots. */
  get(key: string): Promise<string | null> {
    return this.#route(key).get(key)
  }

  set(key: string, command: SetCommand): Promise<string | null> {
    return sendSet(this.#route(key), key, command)
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return mgetPerKeyIfRefused(this.#route(keys[0]!), keys)
  }

  /**
   * A command that waits for `gate` (the cluster opening) before it is handed on. node-redis
   * counts the cluster open before the opening settles, and its reactions run after: until every
   * command held that way is handed on, a later one waits behind them (on `handedOn`) instead of
   * going out first (helper-243: a fresh publisher's second burst overtook its first).
   */
  #hold(gate: Promise<void>, send: () => Promise<unknown>): Promise<unknown> {
    const held = this.#held ?? { count: 0, handedOn: gate }
    this.#held = held
    held.count++
    const letGo = () => {
      if (--held.count === 0) this.#held = undefined
    }
    const sent = gate.then(
      () => {
        letGo()
        return send()
      },
      (error: unknown) => {
        letGo()
        throw error
      },
    )
    // Settled after `sent`'s reaction on the same gate has run: once this command is handed on.
    held.handedOn = gate.then(
      () => undefined,
      () => undefined,
    )
    return sent
  }

  #route(key: string): NodeRedisCommands {
    const slot = keySlot(key)
    let route = this.#routes[slot]
    if (!route) {
      // One closure per slot, its state in the methods' arguments: a route is kept for the
      // fleet's life, and a busy cluster has 16,384 of them (three closures each took 7.6 MB).
      route = new NodeRedisCommands((args, resent) => this.#sendToSlot(slot, key, args, resent))
      this.#routes[slot] = route
    }
    return route
  }

  /**
   * Until the slot map is known (the cluster opening), commands wait for it: bounded by the
   * opening's own deadline (connectTimeout + commandTimeout), which names the seeds. `key` is
   * any key of `slot`: the first one asked for stands for all.
   */
  #sendToSlot(slot: number, key: string, args: (string | Buffer)[], resent?: Resent): Promise<unknown> {
    const opening = this.#open()
    // Refused at once (closed, or known down): nothing to hold it behind, nor to hold behind it.
    if (opening !== undefined && opening !== this.#opening) return opening
    const gate = opening ?? this.#held?.handedOn
    if (!gate) return this.#sendOrRefuse(slot, key, args, resent)
    return this.#hold(gate, () => this.#sendOrRefuse(slot, key, args, resent))
  }

  /**
   * Why a command to `slot` fails at once: its master's client has no connection and the master is
   * known to be down (SPEC §8), until its client reconnects or a re-read slot map (asked for by
   * the sender while the client has no connection) names another master. Each master's client is
   * followed (NodeRedisWatch) from the first command sent to it.
   */
  #refusal(slot: number, args: (string | Buffer)[]): Error | undefined {
    const master = this.#cluster.slots[slot]?.master
    const client = master?.client
    if (!client?.isOpen || client.isReady) return undefined
    return this.#health.of(master!.address).refusalIfDown(String(args[0]).toUpperCase())
  }

  /**
   * Sends a command unless its slot's master is known to be down. Then it is refused at once
   * (not timed: it is settled already), unless the slot map was not re-read within the last
   * LAYOUT_PROBE_INTERVAL while another master can answer: a failover may have moved the slot,
   * so the command waits for one re-read (shared by the commands meanwhile, within
   * commandTimeout) and goes to the slot's new master if there is one. One re-read per interval
   * finds a promoted replica; the node itself is found again by its client's reconnects.
   */
  #sendOrRefuse(slot: number, key: string, args: (string | Buffer)[], resent?: Resent): Promise<unknown> {
    const refusal = this.#refusal(slot, args)
    if (!refusal) return this.#sendRetrying(slot, key, args, resent)
    const fresh = processClock.now() - this.#lastLayoutRead < LAYOUT_PROBE_INTERVAL
    if (fresh || !this.#cluster.masters.some((node) => node.client?.isReady === true)) {
      return Promise.reject(refusal)
    }
    const reread = this.refreshLayout()
    const waited =
      this.#settings.commandTimeout > 0
        ? withDeadline(reread, this.#settings.commandTimeout, () => refusal)
        : reread
    return waited.then(() => {
      const still = this.#refusal(slot, args)
      return still ? Promise.reject(still) : this.#sendRetrying(slot, key, args, resent)
    })
  }

  /**
   * Sends to the slot's master directly (through the cluster client when that cannot be done),
   * and again after a CLUSTERDOWN or TRYAGAIN, as ioredis' Cluster does (retryRefusals).
   */
  #sendRetrying(slot: number, key: string, args: (string | Buffer)[], resent?: Resent): Promise<unknown> {
    // A refused command sent again runs after what was sent with it, on the slot's master as
    // the slot map says then, which may have changed before a WAIT could be asked there.
    return retryRefusals(
      () => this.#sendOnce(slot, key, args, resent),
      refusalRetryDelay(this.#settings.commandTimeout),
      this.#closing.signal,
      resent && (() => resent(undefined)),
    )
  }

  /**
   * Each hop of a command is timed with the other commands on the connection it waits on, which
   * answers in order: a redirected one on the master it was redirected to, so that one's silence
   * is told as its own, not as the first master's (which did answer: MOVED).
   */
  #sendOnce(slot: number, key: string, args: (string | Buffer)[], resent?: Resent): Promise<unknown> {
    const master = this.#cluster.slots[slot]?.master
    const client = master?.client
    // Followed from its first use, ready or not: a master that was down when node-redis made
    // its client must become known down by that client's failed attempts (SPEC §8).
    if (client) this.#watch.of(client, master!.address)
    if (client?.isReady === true) return this.#direct(client, master!.address, key, args, resent)
    if (client) this.#probeLayout()
    // A durable write's commands (`resent` given) go on the master's own connection once
    // node-redis has made it, where a MOVED or ASK comes back to redfleet: through the cluster
    // client, node-redis follows an ASK by itself, and the WAIT sent with the write counted
    // another connection's writes than the one the write ran on (helper-222).
    if (resent && master) {
      return this.#madeClient(master).then((made) => this.#direct(made, master.address, key, args, resent))
    }
    return this.#viaCluster(key, args, resent)
  }

  /**
   * On a master's own connection, ready or not yet (then withdrawable, as through the cluster
   * client); a MOVED or ASK is followed (#redirect).
   */
  #direct(
    client: NodeRedisClient,
    address: string,
    key: string,
    args: (string | Buffer)[],
    resent?: Resent,
  ): Promise<unknown> {
    const sent = client.isReady
      ? client.sendCommand(args, COMMAND_OPTIONS)
      : withdrawable(
          this.#queueOf(client),
          args,
          (signal) => client.sendCommand(args, { ...COMMAND_OPTIONS, abortSignal: signal }),
          this,
        )
    return this.#timedOn(address, sent, args).catch((error: unknown) => {
      if (!isRedirection(error)) throw error
      return this.#redirect(error, key, args, resent)
    })
  }

  /**
   * `master`'s client once node-redis has made it (#nodeClient), one wait per master at a time:
   * the commands of one pipeline chain on it, and so are sent in their order.
   */
  #madeClient(master: NodeRedisClusterNode): Promise<NodeRedisClient> {
    let made = this.#making.get(master.address)
    if (made === undefined) {
      made = this.#nodeClient(master).finally(() => this.#making.delete(master.address))
      this.#making.set(master.address, made)
    }
    return made
  }

  /**
   * Redis did not run a command that met MOVED or ASK. MOVED names the master that serves the
   * slot: it is sent there (the slot map is re-read if it said otherwise); else the cluster client
   * finds where it goes (ASK: with ASKING).
   */
  #redirect(error: unknown, key: string, args: (string | Buffer)[], resent?: Resent): Promise<unknown> {
    const target = this.#movedTo(error)
    if (!target) {
      resent?.(undefined)
      return this.#viaCluster(key, args)
    }
    const slot = Number(messageOf(error).split(' ')[1])
    if (this.#cluster.slots[slot]?.master.client !== target.client) this.#probeLayout()
    return this.#sendTo(target, args, resent)
  }

  /**
   * The ready client of the master a MOVED error names. It carries the keys whose slot
   * cluster-key-slot (and so node-redis 5) gets wrong: Redis hashes `a{}b}c` whole, they read the
   * tag `b`, and node-redis 5 gives up after its redirections to the slot it computed.
   */
  #movedTo(error: unknown): { client: NodeRedisClient; address: string } | undefined {
    const [kind, , address] = messageOf(error).split(' ')
    if (kind !== 'MOVED') return undefined
    const client = this.#cluster.masters.find((m) => m.address === address)?.client
    return client?.isReady === true ? { client, address: address! } : undefined
  }

  /** redfleet's commands waiting in `client` for a connection (withdrawn newest first). */
  #queueOf(client: NodeRedisClient | NodeRedisCluster): QueuedCommands {
    const queue = queueOf(client)
    this.#queues.add(queue)
    return queue
  }

  /**
   * Through the cluster client, which finds the slot's master (a MOVED or ASK, a client not
   * ready). It may wait in that master's client for a connection: withdrawn unsent when the
   * fleet lets go of a user's cluster (close; see withdrawable).
   */
  async #viaCluster(key: string, args: (string | Buffer)[], resent?: Resent): Promise<unknown> {
    // node-redis follows a MOVED by itself, and re-reads its slot map then: a slot's master that
    // changed meanwhile may have run the command elsewhere (where, node-redis does not tell).
    const master = this.#cluster.slots[keySlot(key)]?.master
    try {
      const sent = withdrawable(
        this.#queueOf(master?.client ?? this.#cluster),
        args,
        (signal) => this.#cluster.sendCommand(key, false, args, { ...COMMAND_OPTIONS, abortSignal: signal }),
        this,
      )
      const reply = await this.#timedOn(master?.address, sent, args)
      if (this.#cluster.slots[keySlot(key)]?.master !== master) resent?.(undefined)
      return reply
    } catch (error) {
      const target = this.#movedTo(error)
      if (!target) throw error
      return this.#sendTo(target, args, resent)
    } finally {
      this.#noteLayout()
    }
  }

  /** A redirected command, sent to the master that MOVED named; `resent` is given that master's send. */
  #sendTo(
    target: { client: NodeRedisClient; address: string },
    args: (string | Buffer)[],
    resent?: Resent,
  ): Promise<unknown> {
    resent?.((again) => this.#sendTo(target, again))
    return this.#timedOn(target.address, target.client.sendCommand(args, COMMAND_OPTIONS), args)
  }

  /** `sent`, timed with the commands on the connection of the master at `address`. */
  #timedOn(address: string | undefined, sent: Promise<unknown>, args: (string | Buffer)[]): Promise<unknown> {
    return timedSend(this.#deadlinesOf(address), sent, args)
  }

  async batches(keys: readonly string[]): Promise<KeyBatch[]> {
    if (keys.length === 0) return []
    await this.#open()
    this.#checkMasters()
    const slots = this.#cluster.slots
    // One client per master (its pool of one): every batch is in lane 0.
    return groupKeys(keys, keySlot, (key) => ({
      node: slots[keySlot(key)]?.master.address ?? 'unknown',
      lane: 0,
    }))
  }

  pipeline(
    batches: readonly KeyBatch[],
    build: Parameters<RedisTopology['pipeline']>[1],
    access?: Access,
  ): Promise<unknown[][]> {
    // One pipeline per master as on every topology; each batch's commands go by its slot's route.
    return pipelinePerNode(
      batches,
      (batch) => this.#route(batch.keys[0]!),
      (pipe, batch) => {
        if (pipe instanceof NodeRedisPipeline) pipe.routeTo(this.#route(batch.keys[0]!).send)
        build(pipe, batch)
      },
      undefined,
      access,
    )
  }

  batchClient(batch: KeyBatch): Client {
    return this.client(batch.keys[0]!)
  }

  async masters(): Promise<MasterNode[]> {
    await this.#open()
    this.#checkMasters()
    return Promise.all(
      this.#cluster.masters.map(async (node) => ({
        id: node.address,
        client: this.#nodeConnection(await this.#nodeClient(node), node.address),
      })),
    )
  }

  /**
   * A master's client. node-redis makes it on first use (`minimizeConnections`) and resolves
   * `nodeClient` only once it is ready, which for a master that cannot be reached is never: one
   * that exists is taken as it is (its commands wait for it, each within commandTimeout), and
   * the wait for a new one is bounded.
   */
  #nodeClient(node: NodeRedisClusterNode): Promise<NodeRedisClient> {
    if (node.client) return Promise.resolve(node.client)
    return withDeadline(Promise.resolve(this.#cluster.nodeClient(node)), this.#waitLimit(), () =>
      unreachable(`the cluster master ${node.address} did not connect`),
    )
  }

  /** How long opening the cluster or a master's client may take: as for a command that connects. */
  #waitLimit(): number {
    return this.#settings.connectTimeout + this.#settings.commandTimeout
  }

  #nodeConnection(client: NodeRedisClient, address: string): NodeRedisConnection {
    let connection = this.#nodeConnections.get(client)
    if (!connection) {
      const health = this.#watch.of(client, address)
      connection = new NodeRedisConnection(client, this.#settings, health, this, this.#deadlinesOf(address))
      this.#nodeConnections.set(client, connection)
      this.#queues.add(queueOf(client))
    }
    return connection
  }

  /** One lookup per command (a hot path); none kept when commands have no timeout. */
  #deadlinesOf(address = ''): CommandDeadlines | undefined {
    let deadlines = this.#deadlines.get(address)
    if (deadlines === undefined) {
      const isReady = () =>
        this.#cluster.masters.find((node) => node.address === address)?.client?.isReady === true
      deadlines = connectionDeadlines(this.#settings.commandTimeout, isReady, () => address)
      if (deadlines) this.#deadlines.set(address, deadlines)
    }
    return deadlines
  }

  nodeOf(key: string): string | undefined {
    return this.#cluster.slots[keySlot(key)]?.master.address
  }

  slotOwners(): (string | undefined)[] | undefined {
    const slots = this.#cluster.slots
    if (this.#cluster.masters.length === 0) return undefined
    const owners: (string | undefined)[] = []
    for (let slot = 0; slot < SLOT_COUNT; slot++) owners.push(slots[slot]?.master.address)
    return owners
  }

  /**
   * node-redis announces no re-read of its slot map: a change is noticed when redfleet next looks
   * at it (a command sent through the cluster client, batches, masters, refreshLayout).
   */
  onLayoutChange(listener: () => void): () => void {
    return this.#layoutListeners.add(listener)
  }

  /**
   * node-redis re-reads its slot map by itself when a command meets MOVED, and has no public way
   * to ask for it: its slot keeper's `rediscover` does it when present. Never rejects.
   */
  refreshLayout(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#refreshing ??= this.#rediscover().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  /** On a ready master's connection: node-redis makes a client of its own for each re-read. */
  async checkLayout(): Promise<void> {
    const ready = this.#cluster.masters.filter((node) => node.client?.isReady === true)
    const master = inTurn(ready, this.#layoutChecks++)
    const reply = master
      ? await this.#nodeConnection(master.client!, master.address)
          .call('CLUSTER', 'SLOTS')
          .catch(() => undefined)
      : undefined
    const host = master?.address.slice(0, master.address.lastIndexOf(':')) ?? ''
    if (!slotsReplyMatches(reply, this.slotOwners(), host)) await this.refreshLayout()
  }

  doubtLayout(): void {
    if (!this.#closed) this.#probeLayout()
  }

  /** Its pipelines follow a MOVED per command (see #route): what reaches a caller is a storm. */
  slotMoved(_error: unknown): undefined {
    this.doubtLayout()
  }

  async #rediscover(): Promise<void> {
    const cluster = this.#cluster
    const start = await this.#answeringMaster()
    if (cluster.isOpen && start && typeof cluster._slots?.rediscover === 'function') {
      await cluster._slots.rediscover(start).catch(() => undefined)
    }
    this.#lastLayoutRead = processClock.now()
    this.#noteLayout()
  }

  /**
   * The master to re-read the slot map from: the first connected one to answer a PING (within
   * commandTimeout), else one without a connection (its connect is refused at once, and node-redis
   * goes on to the seeds). node-redis re-reads from it with no deadline, and every later re-read
   * joins that one: from a frozen master it would last as long as the master stays frozen.
   */
  async #answeringMaster(): Promise<NodeRedisClient | undefined> {
    const masters = this.#cluster.masters.filter((node) => node.client !== undefined)
    const ready = masters.filter((node) => node.client!.isReady)
    const answered = await Promise.any(
      ready.map((node) =>
        this.#nodeConnection(node.client!, node.address)
          .ping()
          .then(() => node.client),
      ),
    ).catch(() => undefined)
    return answered ?? masters.find((node) => !node.client!.isReady)?.client
  }

  /**
   * A master whose client lost its connection may have been failed over, which node-redis 5 only
   * learns from a MOVED that a dead node never sends: the slot map is re-read (rate-limited).
   */
  #probeLayout(): void {
    const now = processClock.now()
    if (now - this.#lastProbe < LAYOUT_PROBE_INTERVAL) return
    this.#lastProbe = now
    void this.refreshLayout()
  }

  /** Notes a re-read slot map, and probes for a new one while a master has no connection. */
  #checkMasters(): void {
    this.#noteLayout()
    if (this.#cluster.masters.some((node) => node.client !== undefined && !node.client.isReady)) {
      this.#probeLayout()
    }
  }

  async dedicatedToNode(nodeId: string): Promise<DedicatedConnection> {
    await this.#open()
    this.#checkMasters()
    const node: NodeRedisClusterNode | undefined = this.#cluster.masters.find((m) => m.address === nodeId)
    if (!node) throw new ConnectionError(`no cluster master ${nodeId}`, { outcome: 'not-applied' })
    const client = new NodeRedisClusterDedicated((await this.#nodeClient(node)).duplicate(), () =>
      this.refreshLayout(),
    )
    // Blocking reads and subscriptions wait for the node: they only tell its health what they see.
    watchDedicated(client, this.#health.of(nodeId), this.#settings.reconnectAttempts)
    return client
  }
}

function unreachable(what: string): ConnectionError {
  return new ConnectionError(`${what} within connectTimeout + commandTimeout`, { outcome: 'not-applied' })
}

/** An AbortController whose signal takes any number of listeners without a warning. */
function unlimitedController(): AbortController {
  const controller = new AbortController()
  setMaxListeners(0, controller.signal)
  return controller
}

/** Redis' refusal of a command it did not run while a cluster's state is fail or a slot moves. */
const CLUSTER_REFUSAL = /^(CLUSTERDOWN|TRYAGAIN)\b/

/**
 * `send`, sent again `delay` ms after each CLUSTERDOWN or TRYAGAIN, at most MAX_REDIRECTIONS
 * times in all (half of commandTimeout: refusalRetryDelay), as ioredis' Cluster does with
 * retryDelayOnClusterDown: a restarting master turns the cluster's state to fail for a second or
 * two, and each call failed at once, its retry policy's few attempts spent within ~100 ms
 * (helper-151: 16 calls of one caller failed in one such window). Redis ran none of them.
 */
function retryRefusals(
  send: () => Promise<unknown>,
  delay: number,
  closing: AbortSignal,
  sendingAgain?: () => void,
  refusals = 1,
): Promise<unknown> {
  return started(send).catch((error: unknown) => {
    if (!CLUSTER_REFUSAL.test(messageOf(error)) || refusals >= MAX_REDIRECTIONS || closing.aborted)
      throw error
    return sleep(delay, closing).then(() => {
      if (closing.aborted) throw error
      sendingAgain?.()
      return retryRefusals(send, delay, closing, sendingAgain, refusals + 1)
    })
  })
}
