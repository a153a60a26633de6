import type { Redis } from 'ioredis'
import type { FleetContext } from '../context.ts'
import { translateError } from '../errors.ts'
import type { ChannelSubscription, NodeSubscriber, RawPayload } from '../pubsub/index.ts'
import { closeClient } from '../topology/connection.ts'
import type { NearCache } from './near.ts'

/** The channel Redis sends CLIENT TRACKING invalidations on to a RESP2 redirect client. */
const INVALIDATE = '__redis__:invalidate'

/**
 * Keeps a near cache coherent with Redis by server-assisted client-side caching, per master:
 *
 *   the fleet's subscriber connection to the node  SUBSCRIBE __redis__:invalidate
 *   a control connection of our own to the node    CLIENT TRACKING on REDIRECT <subscriber id>
 *                                                    BCAST PREFIX <entries> PREFIX <tag versions>
 *
 * In BCAST mode Redis reports every change to a key under the prefixes, by any client (another
 * process, a script, `redis-cli SET`), an expiry or an eviction, whoever read it. Invalidations
 * travel on another connection than our reads, so a GET reply can arrive after the
 * invalidation of a write that followed it: the near cache keeps such a reply out (its tickets).
 *
 * The near cache is used only while every node is tracked. If a subscriber connection drops
 * (invalidations may be lost) or a control connection drops (its tracking is gone), the near
 * cache is flushed and bypassed; once the connection is back, tracking is enabled again with the
 * subscriber's new CLIENT ID, and only then is the near cache used again, starting empty.
 */
export class NearTracking {
  readonly #ctx: FleetContext
  readonly #near: NearCache
  readonly #prefixes: string[]
  readonly #nodes: TrackedNode[] = []
  #starting: Promise<void> | undefined
  #closed = false

  constructor(ctx: FleetContext, near: NearCache, prefixes: string[]) {
    this.#ctx = ctx
    this.#near = near
    this.#prefixes = prefixes
  }

  /** Starts tracking on first use (idempotent; the near cache stays bypassed until it is live). */
  start(): void {
    if (this.#starting || this.#closed || this.#ctx.lifecycle.closed) return
    this.#ctx.lifecycle.onClose(() => this.close())
    this.#starting = this.#start().catch((error: unknown) => {
      this.#report(error, 'start')
      // Try again on a later read.
      this.#starting = undefined
    })
  }

  async #start(): Promise<void> {
    const topology = await this.#ctx.redis()
    const masters = await topology.masters()
    const subscriber = this.#ctx.subscriber()
    for (const master of masters) {
      if (this.#closed) return
      const control = await topology.dedicatedToNode(master.id)
      if (this.#closed) {
        control.disconnect()
        return
      }
      const node = new TrackedNode(subscriber.node(master.id), control, this.#prefixes, {
        invalidate: (payload) => this.#invalidate(payload),
        changed: () => this.#changed(),
        report: (error, what) => this.#report(error, `${master.id} ${what}`),
      })
      this.#nodes.push(node)
      node.start()
    }
  }

  #invalidate(payload: RawPayload): void {
    // null: FLUSHALL/FLUSHDB, every key at once.
    if (payload === null) this.#near.clear()
    else if (Array.isArray(payload)) for (const key of payload) this.#near.invalidate(key.toString())
    else this.#near.invalidate(payload.toString())
  }

  #changed(): void {
    const online = this.#nodes.length > 0 && this.#nodes.every((node) => node.tracking)
    if (online !== this.#near.online) this.#near.setOnline(online)
  }

  #report(error: unknown, what: string): void {
    if (this.#closed) return
    const op = `cache near cache ${what}`
    try {
      this.#ctx.onError(translateError(error, op), { op })
    } catch {
      // A throwing onError must not break the tracking.
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#near.setOnline(false)
    await Promise.all(this.#nodes.map((node) => node.close()))
  }
}

interface NodeHooks {
  invalidate(payload: RawPayload): void
  changed(): void
  report(error: unknown, what: string): void
}

/** Tracking on one master: its subscriber connection and our control connection. */
class TrackedNode {
  tracking = false
  readonly #subscriber: NodeSubscriber
  readonly #control: Redis
  readonly #prefixes: string[]
  readonly #hooks: NodeHooks
  #subscription: ChannelSubscription | undefined
  #stopState: (() => void) | undefined
  /** Bumped by every event that may make an enabling in flight stale. */
  #generation = 0
  /** The subscriber id tracking currently redirects to, while `tracking`. */
  #redirect: number | undefined
  /** Enablings run one after another: two CLIENT TRACKING on in a row would be refused. */
  #queue: Promise<void> = Promise.resolve()
  #closed = false

  constructor(subscriber: NodeSubscriber, control: Redis, prefixes: string[], hooks: NodeHooks) {
    this.#subscriber = subscriber
    this.#control = control
    this.#prefixes = prefixes
    this.#hooks = hooks
  }

  start(): void {
    this.#stopState = this.#subscriber.onState((state) => {
      if (state === 'down') this.#lost()
      else this.#enable()
    })
    this.#subscription = this.#subscriber.subscribe(INVALIDATE, (payload) => this.#hooks.invalidate(payload))
    this.#control.on('close', () => this.#lost())
    this.#control.on('ready', () => this.#enable())
    this.#control.connect().catch(() => {
      // Reported by the topology's error listener; ioredis keeps reconnecting, 'ready' follows.
    })
    this.#subscription.ready().then(
      () => this.#enable(),
      () => {
        // Not yet: the 'up' state event enables tracking when the subscriber is confirmed.
      },
    )
  }

  #lost(): void {
    this.#generation++
    this.#redirect = undefined
    if (!this.tracking) return
    this.tracking = false
    this.#hooks.changed()
  }

  #enable(): void {
    this.#queue = this.#queue.then(() => this.#enableOnce())
  }

  async #enableOnce(): Promise<void> {
    if (this.#closed || this.#subscriber.state !== 'up' || this.#control.status !== 'ready') return
    const generation = this.#generation
    try {
      const id = await this.#subscriber.clientId()
      if (this.tracking && this.#redirect === id) return // already tracking to this connection
      // OFF first: Redis refuses to add a PREFIX already tracked, and the redirect may be stale.
      await this.#control.call('CLIENT', 'TRACKING', 'off')
      const prefixes = this.#prefixes.flatMap((prefix) => ['PREFIX', prefix])
      await this.#control.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST', ...prefixes)
      if (generation !== this.#generation || this.#closed || this.#subscriber.state !== 'up') return
      if ((await this.#subscriber.clientId()) !== id) return
      if (generation !== this.#generation) return
      this.#redirect = id
      this.tracking = true
      this.#hooks.changed()
    } catch (error) {
      if (generation === this.#generation && !this.#closed) this.#hooks.report(error, 'CLIENT TRACKING')
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#generation++
    this.tracking = false
    this.#stopState?.()
    this.#subscription?.unsubscribe()
    await closeClient(this.#control)
  }
}
