import { ConnectionError, isAnnounced, messageOf } from '../errors.ts'
import type { ChannelSubscription, NodeSubscriber, RawPayload } from '../pubsub/index.ts'
import { closeClient } from '../topology/connection.ts'
import { CommandDeadlines } from '../transport/deadlines.ts'
import type { CommandArg, DedicatedConnection } from '../transport/types.ts'
import type { Vouch } from './near.ts'

/** Redis' answer to CLIENT TRACKING REDIRECT to a connection that no longer exists. */
const REDIRECT_GONE = 'client ID you want redirect to does not exist'

/** The channel Redis sends CLIENT TRACKING invalidations on to a RESP2 redirect client. */
const INVALIDATE = '__redis__:invalidate'

export interface NodeHooks {
  invalidate(payload: RawPayload): void
  /** The node answered ROLE as a replica (a demoted master): re-read the topology. */
  demoted(): void
  /** A failure, the first of a failing spell (or one already announced elsewhere). */
  report(error: unknown, what: string): void
  /** The spell of failures reported ended: the node works again, or is no longer watched. */
  worked(): void
}

/**
 * Tracking on one master: the fleet's subscriber connection to it (SUBSCRIBE
 * `__redis__:invalidate`) and a control connection of our own (CLIENT TRACKING on REDIRECT
 * <subscriber id> BCAST PREFIX ...). It vouches for the near-cache entries of its keys while
 * both connections are up and the node answers ROLE with `master`; any break (a connection
 * dropped, a demotion, a failed role check) bumps its epoch, which flushes those entries, and
 * only a new enabling on a master vouches again.
 *
 * Its entries are served only within the invalidation bound of the last moment its
 * invalidations were known to be read up to date (`trustedUntil`): each check probes the
 * subscriber connection (a PING, answered after every message sent before it). Messages behind a
 * backlog, slow broker listeners on the same connection, are read late: helper-321 had near
 * hits 12 s old, past a bound of 7 s, and its entries now wait until the probe comes back.
 * A PING refused (an ACL without it) leaves them unserved, and is reported once.
 */
export class TrackedNode implements Vouch {
  live = false
  epoch = 0
  /**
   * Until when (performance.now()) its entries may be served: the bound after tracking was last
   * asked on, or after the last probe answered, whichever came later. A field, not a getter: a
   * near-cache hit reads it.
   */
  trustedUntil = Number.NEGATIVE_INFINITY
  readonly id: string
  readonly #subscriber: NodeSubscriber
  readonly #control: DedicatedConnection
  readonly #prefixes: readonly string[]
  readonly #hooks: NodeHooks
  /** commandTimeout for the control connection's commands (undefined: 0, never). */
  readonly #deadlines: CommandDeadlines | undefined
  #subscription: ChannelSubscription | undefined
  #stopState: (() => void) | undefined
  /** Bumped by every event that may make an enabling in flight stale. */
  #generation = 0
  /** The subscriber id tracking currently redirects to, while `live`. */
  #redirect: number | undefined
  /** The last subscriber id Redis said was gone when tracking was redirected to it. */
  #goneRedirect: number | undefined
  /** Enablings and role checks run one after another on the control connection. */
  #queue: Promise<void> = Promise.resolve()
  /** Steps queued and not yet settled: the periodic retry adds none while one is waiting. */
  #pending = 0
  /**
   * A failure of this node's tracking was reported and it has not worked since: the periodic
   * check keeps retrying (and flushing), but reports a failing node once per change of its state
   * (SPEC §1), not once per check. Cleared when the node vouches again (silently).
   */
  #failing = false
  #closed = false
  /** The invalidation bound (docs/cache.md): how long after its last probe it is trusted. */
  readonly #bound: number
  /** A refused probe was reported, and none has been answered since. */
  #probeRefused = false

  constructor(
    id: string,
    subscriber: NodeSubscriber,
    control: DedicatedConnection,
    prefixes: readonly string[],
    hooks: NodeHooks,
    commandTimeout: number,
    bound: number,
  ) {
    this.#bound = bound
    this.id = id
    this.#subscriber = subscriber
    this.#control = control
    this.#prefixes = prefixes
    this.#hooks = hooks
    this.#deadlines = commandTimeout > 0 ? new CommandDeadlines(commandTimeout) : undefined
  }

  start(): void {
    this.#stopState = this.#subscriber.onState((state) => {
      if (state === 'down') {
        // Announced by the node's health: a failure after it is back is a new change, heard once.
        this.#setFailing(false)
        this.#lost()
      } else void this.#enable()
    })
    this.#subscription = this.#subscriber.subscribe(INVALIDATE, (payload) => this.#hooks.invalidate(payload))
    this.#control.on('close', () => this.#lost())
    this.#control.on('ready', () => void this.#enable())
    this.#control.connect().catch(() => {
      // Seen by the node's health; ioredis keeps reconnecting, 'ready' follows.
    })
    this.#subscription.ready().then(
      () => void this.#enable(),
      () => {
        // Not yet: the 'up' state event enables tracking when the subscriber is confirmed.
      },
    )
  }

  /**
   * The periodic look (NearTracking's check interval). A live node re-checks that it is still a
   * master; a demoted one stops vouching at once. A node that is not live tries enabling again:
   * an enabling that failed (a ROLE or CLIENT TRACKING that timed out under load, a reply lost
   * with a connection) would otherwise wait for a connection event that may never come.
   */
  check(): Promise<void> {
    if (this.live) this.#probe()
    // One step at a time: a check while one waits (a slow server) adds nothing to the queue.
    if (this.#pending > 0) return this.#queue
    if (!this.live) return this.#enable()
    const generation = this.#generation
    return this.#enqueue(async () => {
      if (!this.live || generation !== this.#generation || this.#closed) return
      const role = await this.#role(generation)
      if (role === 'master') {
        this.#setFailing(false)
        return
      }
      // Not known to be a master any more: stop vouching now. A replica means a demotion (the
      // topology is read again); an unanswered ROLE is tried again by the next check.
      this.#lost()
      if (role === 'replica') this.#hooks.demoted()
    })
  }

  /**
   * Probes the subscriber connection (see the class comment). Every invalidation sent before an
   * answered probe has been read: its entries may be served until the bound after it was sent.
   */
  #probe(): void {
    this.#subscriber.probe().then(
      (sentAt) => {
        if (sentAt === undefined) return
        this.#probeRefused = false
        this.#trust(sentAt)
      },
      (error: unknown) => {
        if (this.#probeRefused || this.#closed) return
        this.#probeRefused = true
        this.#hooks.report(error, 'PING (its entries are not served without it)')
      },
    )
  }

  #trust(from: number): void {
    this.trustedUntil = Math.max(this.trustedUntil, from + this.#bound)
  }

  /**
   * Stops vouching now (its entries are flushed) and enables tracking again from scratch: after
   * a stall of the process, what the connections went through meanwhile is not known yet.
   */
  restart(): void {
    this.#lost()
    void this.#enable()
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#pending++
    this.#queue = this.#queue.then(step).finally(() => this.#pending--)
    return this.#queue
  }

  #lost(): void {
    this.#generation++
    this.#redirect = undefined
    if (!this.live) return
    this.live = false
    this.epoch++
  }

  #enable(): Promise<void> {
    return this.#enqueue(() => this.#enableOnce())
  }

  async #enableOnce(): Promise<void> {
    if (this.#closed || this.#subscriber.state !== 'up' || this.#control.status !== 'ready') return
    const generation = this.#generation
    // Outside the try: a failure names the subscriber id tracking was redirected to.
    let id: number | undefined
    try {
      id = await this.#subscriber.clientId()
      if (this.live && this.#redirect === id) return // already tracking to this connection
      // Only a master sees every write to its keys: a replica (a demoted master, a restarted
      // one rejoining as replica) must not vouch for anything.
      const role = await this.#role(generation)
      if (role !== 'master') {
        if (role === 'replica') this.#hooks.demoted()
        return
      }
      // OFF first: Redis refuses to add a PREFIX already tracked, and the redirect may be stale.
      await this.#ask('CLIENT', 'TRACKING', 'off')
      const prefixes = this.#prefixes.flatMap((prefix) => ['PREFIX', prefix])
      const asked = performance.now()
      await this.#ask('CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'BCAST', ...prefixes)
      if (generation !== this.#generation || this.#closed || this.#subscriber.state !== 'up') return
      if ((await this.#subscriber.clientId()) !== id) return
      if (generation !== this.#generation) return
      this.#redirect = id
      // No invalidation sent before tracking was on matters: what it holds is filled after.
      this.#trust(asked)
      this.live = true
      this.#setFailing(false)
    } catch (error) {
      if (generation !== this.#generation || this.#closed) return
      // The subscriber connection died after it told its id (its close event is on its way):
      // not a failure of the node, and its reconnect enables tracking again. The same id gone
      // twice is one: the subscriber is on another server (a proxy in between).
      if (messageOf(error).includes(REDIRECT_GONE) && this.#goneRedirect !== id) {
        this.#goneRedirect = id
        return
      }
      this.#fail(error, 'CLIENT TRACKING')
    }
  }

  /** What the node says it is; undefined when it did not say (the failure is reported). */
  async #role(generation: number): Promise<'master' | 'replica' | undefined> {
    try {
      const role = (await this.#ask('ROLE')) as unknown[]
      return role[0] === 'master' ? 'master' : 'replica'
    } catch (error) {
      if (generation === this.#generation && !this.#closed) this.#fail(error, 'ROLE')
      return undefined
    }
  }

  /** Starts or ends a failing spell; its end is told (the fleet's FailingNodes). */
  #setFailing(failing: boolean): void {
    if (this.#failing === failing) return
    this.#failing = failing
    if (!failing) this.#hooks.worked()
  }

  /**
   * Reports a failure once per failing spell: the first failure since the node last worked. A
   * failure already announced elsewhere (the node known down) is dropped by the reporter and
   * does not start a spell, so a failure after the node is back up is still heard once.
   */
  #fail(error: unknown, what: string): void {
    if (this.#failing) return
    if (!isAnnounced(error)) this.#setFailing(true)
    this.#hooks.report(error, what)
  }

  /**
   * One command on the control connection, given up when that connection closes or after
   * commandTimeout. It is a dedicated connection, with no commandTimeout of its own, and ioredis
   * drops without settling what was in flight when a connection closes (redfleet turns its
   * re-sending off): left unsettled, a ROLE would hold the queue, and the near cache offline,
   * for ever.
   */
  #ask(command: string, ...args: CommandArg[]): Promise<unknown> {
    const sent = this.#control.call(command, ...args)
    const asked = this.#deadlines ? this.#deadlines.track(sent) : sent
    return new Promise((resolve, reject) => {
      const onClose = () =>
        reject(
          new ConnectionError(`near cache: the tracking connection to ${this.id} closed during ${command}`),
        )
      this.#control.once('close', onClose)
      asked.then(resolve, reject).finally(() => this.#control.off('close', onClose))
    })
  }

  /** Stops vouching (its entries are flushed) and closes the control connection. */
  async close(): Promise<void> {
    this.#closed = true
    this.#setFailing(false)
    this.#lost()
    this.live = false
    this.#stopState?.()
    this.#subscription?.unsubscribe()
    await closeClient(this.#control)
  }
}
