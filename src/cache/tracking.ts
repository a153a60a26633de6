import type { FleetContext } from '../context.ts'
import { isAnnounced, translateError } from '../errors.ts'
import type { RawPayload } from '../pubsub/index.ts'
import type { RedisTopology } from '../topology/types.ts'
import type { NearCache, Vouch } from './near.ts'
import { stallLimit } from './stall-guard.ts'
import { TrackedNode } from './tracked-node.ts'

/**
 * How often the topology is re-checked for what no event announces (a CLUSTER FAILOVER that
 * leaves every connection open, a REPLICAOF): the slot map is reloaded and every tracked master
 * answers ROLE. A fraction of commandTimeout, so that the invalidation bound (docs/cache.md:
 * `connectTimeout + 2 × commandTimeout`) holds with room for the check's own round trips.
 */
export function topologyCheckInterval(commandTimeout: number): number {
  return Math.max(50, Math.min(commandTimeout || 1000, 1000) / 4)
}

/**
 * The invalidation bound (docs/cache.md): a near-cache read that starts this long after a write
 * was acknowledged never returns an older value. None without a commandTimeout (a check may
 * then wait for ever).
 */
export function invalidationBound(connectTimeout: number, commandTimeout: number): number {
  return commandTimeout === 0 ? Number.POSITIVE_INFINITY : connectTimeout + 2 * commandTimeout
}

/**
 * Keeps a near cache coherent with Redis by server-assisted client-side caching, on every
 * current master (SPEC §3):
 *
 *   the fleet's subscriber connection to the master  SUBSCRIBE __redis__:invalidate
 *   a control connection of our own to the master   ROLE (must be master), then
 *                                                     CLIENT TRACKING on REDIRECT <subscriber id>
 *                                                     BCAST PREFIX <entries> PREFIX <tag versions>
 *
 * In BCAST mode Redis reports every change to a key under the prefixes, by any client, an
 * expiry or an eviction, whoever read it. Invalidations travel on another connection than our
 * reads, so a GET reply can arrive after the invalidation of a write that followed it: the near
 * cache keeps such a reply out (its tickets).
 *
 * Following the topology: each master vouches for the entries of the keys it serves (see Vouch
 * in near.ts). The set of masters is re-read on every slot-map reload and node change the
 * client reports (MOVED, failover, new nodes), on a demotion, and every topologyCheckInterval
 * (the fleet's one TopologyWatch);
 * a master that appears is tracked before it vouches for anything, one that disappears or is
 * demoted stops vouching, and the masters whose slots changed hands have their entries flushed
 * before any of them is served again. A master that is down only takes its own entries with it:
 * the others keep being served.
 */
export class NearTracking {
  /**
   * Tells a tracking that one of its near caches was collected: the last one going stops it (see
   * #collected). A namespace per request or per tenant would otherwise keep a control connection
   * per master open for each namespace ever used, until the server's maxclients.
   */
  static readonly #collections = new FinalizationRegistry<NearTracking>((tracking) => tracking.#collected())
  readonly #ctx: FleetContext
  /** The near caches it keeps coherent: every cache object of one namespace (held weakly). */
  readonly #nears = new Set<WeakRef<NearCache>>()
  /** Forgets this tracking where it is found by its prefixes (NearCaches.trackingOf). */
  readonly #unused: () => void
  #online = false
  readonly #prefixes: readonly string[]
  readonly #nodes = new Map<string, TrackedNode>()
  #topology: RedisTopology | undefined
  #owners: (string | undefined)[] | undefined
  #starting: Promise<void> | undefined
  #syncing: Promise<void> | undefined
  #again = false
  /** A failed re-read of the masters was reported and none has succeeded since. */
  #syncFailing = false
  #unwatch: (() => void) | undefined
  #stopLayout: (() => void) | undefined
  /** Takes close() out of the fleet's cleanups; set from the first start. */
  #unregister: (() => void) | undefined
  #closed = false
  #closing: Promise<void> | undefined

  constructor(ctx: FleetContext, prefixes: readonly string[], unused: () => void) {
    this.#ctx = ctx
    this.#prefixes = prefixes
    this.#unused = unused
  }

  /** Keeps `near` coherent too: it follows the topology, and is online once the tracking is. */
  attach(near: NearCache): void {
    this.#nears.add(new WeakRef(near))
    NearTracking.#collections.register(near, this)
    near.follow((full) => this.#vouchOf(full))
    if (this.#online) near.setOnline(true)
  }

  /** One of its near caches was collected: with none left, it stops and is forgotten. */
  #collected(): void {
    this.#each(() => {})
    if (this.#nears.size > 0 || this.#closed) return
    this.#unused()
    void this.close()
  }

  #each(action: (near: NearCache) => void): void {
    for (const ref of this.#nears) {
      const near = ref.deref()
      if (near === undefined) this.#nears.delete(ref)
      else action(near)
    }
  }

  #setOnline(online: boolean): void {
    this.#online = online
    this.#each((near) => near.setOnline(online))
  }

  /** Starts tracking on first use (idempotent; the near cache stays bypassed until it is live). */
  start(): void {
    if (this.#starting || this.#closed || this.#ctx.lifecycle.closed) return
    // One of the fleet's cleanups from the first start, not once the topology is there: a close
    // that comes while the tracking is on its way (the same tick as the first read) must stop it,
    // and close the control connections it opens (SPEC §1). Registered later, it missed a close
    // already running, and its control connections outlived the fleet.
    const { lifecycle } = this.#ctx
    this.#unregister ??= lifecycle.onClose(() => lifecycle.closesLast(this.close()))
    this.#starting = this.#start().catch((error: unknown) => {
      this.#report(error, 'start')
      // Try again on a later read.
      this.#starting = undefined
    })
  }

  async #start(): Promise<void> {
    const topology = await this.#ctx.redis()
    if (this.#stopped() || this.#topology) return
    this.#topology = topology
    this.#stopLayout = topology.onLayoutChange(() => this.#sync())
    const interval = topologyCheckInterval(this.#ctx.commandTimeout)
    this.#unwatch = this.#ctx.nearCaches.topologyWatch.add(
      topology,
      interval,
      stallLimit(interval, this.#bound()),
      {
        checkNodes: () => this.#checkNodes(),
        sync: () => this.#sync(),
        restart: () => {
          for (const node of this.#nodes.values()) node.restart()
        },
      },
    )
    await this.#sync()
    // Online: from now on each entry is served only while the master of its key vouches for it.
    if (!this.#stopped()) this.#setOnline(true)
  }

  /**
   * Closed, or the fleet's close has begun (its cleanup, this close, may still be waiting for
   * those before it): nothing more is opened either way.
   */
  #stopped(): boolean {
    return this.#closed || this.#ctx.lifecycle.closed
  }

  #bound(): number {
    return invalidationBound(this.#ctx.connectTimeout, this.#ctx.commandTimeout)
  }

  #vouchOf(full: string): Vouch | undefined {
    const id = this.#topology?.nodeOf(full)
    return id === undefined ? undefined : this.#nodes.get(id)
  }

  /** Re-reads the masters (one pass at a time; a request during a pass runs one more). */
  #sync(): Promise<void> {
    if (this.#syncing) {
      this.#again = true
      return this.#syncing
    }
    this.#syncing = this.#syncOnce()
      .then(
        () => {
          this.#syncFailing = false
        },
        (error: unknown) => {
          // Once per failing spell, not once per check: the next pass that succeeds ends it.
          if (this.#syncFailing) return
          if (!isAnnounced(error)) this.#syncFailing = true
          this.#report(error, 'topology')
        },
      )
      .finally(() => {
        this.#syncing = undefined
        if (this.#again && !this.#closed) {
          this.#again = false
          void this.#sync()
        }
      })
    return this.#syncing
  }

  async #syncOnce(): Promise<void> {
    const topology = this.#topology
    if (!topology || this.#closed) return
    this.#flushMovedSlots(this.#ctx.nearCaches.topologyWatch.slotOwners(topology))
    const masters = await topology.masters()
    const current = new Set(masters.map((m) => m.id))
    for (const [id, node] of this.#nodes) {
      if (current.has(id)) continue
      this.#nodes.delete(id)
      void node.close()
    }
    // Nothing is opened once the fleet is closing, not even its subscriber.
    if (this.#stopped()) return
    const subscriber = this.#ctx.subscriber()
    for (const { id } of masters) {
      if (this.#nodes.has(id) || this.#stopped()) continue
      const control = await topology.dedicatedToNode(id)
      // Not connected yet (it is lazy): dropped, it never opens a socket.
      if (this.#stopped() || this.#nodes.has(id)) {
        control.disconnect()
        continue
      }
      const failing = this.#ctx.failingNodes
      const node: TrackedNode = new TrackedNode(
        id,
        subscriber.node(id),
        control,
        this.#prefixes,
        {
          invalidate: (payload) => this.#invalidate(payload),
          demoted: () => void this.#sync(),
          // Once per node for the fleet: another namespace's tracking may have said it already.
          report: (error, what) => {
            if (!isAnnounced(error) && failing.failed(id, node)) this.#report(error, `${id} ${what}`)
          },
          worked: () => failing.worked(id, node),
        },
        this.#ctx.commandTimeout,
        this.#bound(),
      )
      this.#nodes.set(id, node)
      node.start()
    }
  }

  /**
   * Slots that changed hands since the last look: their old and new masters stop vouching for
   * what they hold now (their entries are flushed); they vouch again for what is read next.
   */
  #flushMovedSlots(owners: (string | undefined)[] | undefined): void {
    const before = this.#owners
    this.#owners = owners
    // The same array: no slot changed hands (TopologyWatch.slotOwners).
    if (!before || !owners || before === owners) return
    const changed = new Set<string | undefined>()
    for (let slot = 0; slot < owners.length; slot++) {
      if (owners[slot] === before[slot]) continue
      changed.add(owners[slot])
      changed.add(before[slot])
    }
    for (const id of changed) {
      const node = id === undefined ? undefined : this.#nodes.get(id)
      if (node) node.epoch++
    }
  }

  /**
   * Its part of the periodic look (TopologyWatch): every master's role, and a new try on each
   * master whose tracking is not enabled (see TrackedNode.check).
   */
  #checkNodes(): Promise<unknown> {
    if (this.#closed) return Promise.resolve()
    return Promise.all([...this.#nodes.values()].map((node) => node.check()))
  }

  #invalidate(payload: RawPayload): void {
    // null: FLUSHALL/FLUSHDB, every key at once.
    if (payload === null) this.#each((near) => near.clear())
    else if (Array.isArray(payload)) for (const key of payload) this.#invalidateKey(key.toString())
    else this.#invalidateKey(payload.toString())
  }

  #invalidateKey(full: string): void {
    this.#each((near) => near.invalidate(full))
  }

  #report(error: unknown, what: string): void {
    // A node known to be down was announced once; the periodic check must not repeat it.
    if (this.#closed || isAnnounced(error)) return
    const op = `cache near cache ${what}`
    try {
      this.#ctx.onError(translateError(error, op), { op })
    } catch {
      // A throwing onError must not break the tracking.
    }
  }

  /** Stops tracking and closes its control connections: when the fleet closes, or unused. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#closed = true
    this.#unwatch?.()
    this.#stopLayout?.()
    this.#setOnline(false)
    const nodes = [...this.#nodes.values()]
    this.#nodes.clear()
    await Promise.all(nodes.map((node) => node.close()))
    // After its connections are closed: a fleet close begun meanwhile still waits for them.
    this.#unregister?.()
  }
}
