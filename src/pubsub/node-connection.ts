import { ClosedError, messageOf, translateError } from '../errors.ts'
import { closeClient } from '../topology/connection.ts'
import type { DedicatedConnection } from '../transport/types.ts'
import { forEachListener } from './listeners.ts'
import { type ErrorSink, report } from './report.ts'
import type { NodeState, RawListener, RawPayload } from './types.ts'

/** SUBSCRIBE (plain pub/sub) or SSUBSCRIBE (sharded pub/sub, Redis Cluster). */
export type Mode = 'subscribe' | 'ssubscribe'

/** One channel this connection must be subscribed to, and who listens to it here. */
interface Entry {
  readonly mode: Mode
  readonly channel: string
  readonly listeners: Set<RawListener>
  /** Redis confirmed the subscription on the current connection. */
  confirmed: boolean
}

/** What a node connection tells the hub that owns it. */
export interface NodeHooks {
  /** Something a waiter may wait for changed (a confirmation, a reconnect, a drop). */
  changed(): void
  /** Redis said sharded channels of this node may live elsewhere now (MOVED, pushed SUNSUBSCRIBE). */
  moved(node: NodeConnection): void
  /** The connection dropped or a (re)connect attempt failed. */
  down(node: NodeConnection): void
  readonly onError: ErrorSink
}

/** Reconnect backoff: 50 ms doubling up to 2 s, the same curve as the command connections. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000)
}

const SUBSCRIBE_BATCH = 1000

/**
 * The dedicated subscriber connection to one node. It keeps its own registry of channels and
 * re-establishes all of them on every new connection, in this order: CLIENT ID (a RESP2
 * connection cannot run it once subscribed), then SUBSCRIBE / SSUBSCRIBE for every channel,
 * then state 'up'. ioredis' own autoResubscribe is turned off because it only knows channels
 * whose SUBSCRIBE was confirmed: one sent just before a drop would be lost.
 *
 * Nothing is sent while the connection is not ready: subscriptions made meanwhile are only
 * registered, and the next (re)connect subscribes them.
 */
export class NodeConnection {
  readonly nodeId: string
  readonly #open: () => Promise<DedicatedConnection>
  readonly #hooks: NodeHooks
  readonly #entries: Record<Mode, Map<string, Entry>> = { subscribe: new Map(), ssubscribe: new Map() }
  readonly #stateListeners = new Set<(state: NodeState) => void>()
  #client: DedicatedConnection | undefined
  #opening = false
  #openAttempts = 0
  #openRetry: NodeJS.Timeout | undefined
  /** Bumped on every connect and drop: replies from an earlier connection are ignored. */
  #generation = 0
  /** Commands may be sent: the current connection is ready and CLIENT ID has been answered. */
  #connected = false
  #clientId: number | undefined
  /** Re-subscribe commands of the current connection not answered yet; 'up' when it reaches 0. */
  #resyncPending = 0
  /** The probe's PING on its way on the current connection, if one is (see probe). */
  #probing: Promise<number | undefined> | undefined
  #state: NodeState = 'down'
  #closed = false

  constructor(nodeId: string, open: () => Promise<DedicatedConnection>, hooks: NodeHooks) {
    this.nodeId = nodeId
    this.#open = open
    this.#hooks = hooks
  }

  get state(): NodeState {
    return this.#state
  }

  /** The current connection's CLIENT ID, or undefined while it is not connected. */
  get clientId(): number | undefined {
    return this.#connected ? this.#clientId : undefined
  }

  /**
   * Sends a PING on the connection, unless one is on its way (its callers share it): its reply
   * comes after every message Redis sent the connection before it ran it, and those have been
   * handed to their listeners, in order, by then. Resolves with when (performance.now()) it was
   * sent, once answered; with undefined when it could not be sent or the connection dropped
   * first; rejects with Redis' refusal (an ACL without PING). A connection whose messages wait
   * behind a backlog (slow listeners) answers late.
   */
  probe(): Promise<number | undefined> {
    const client = this.#client
    if (this.#probing) return this.#probing
    if (!client || !this.#canSend()) return Promise.resolve(undefined)
    const generation = this.#generation
    const sentAt = performance.now()
    const probing = client.call('PING').then(
      () => (generation === this.#generation ? sentAt : undefined),
      (error: unknown) => {
        if (generation !== this.#generation) return undefined
        throw error
      },
    )
    this.#probing = probing
    const done = () => {
      if (this.#probing === probing) this.#probing = undefined
    }
    probing.then(done, done)
    return probing
  }

  isConfirmed(mode: Mode, channel: string): boolean {
    return this.#entries[mode].get(channel)?.confirmed === true
  }

  /** Channels registered here in `mode` (the hub re-places them after a MOVED). */
  channels(mode: Mode): string[] {
    return [...this.#entries[mode].keys()]
  }

  /** Adds a listener; the first one of a channel subscribes it (now, or on the next connect). */
  add(mode: Mode, channel: string, listener: RawListener): void {
    if (this.#closed) throw new ClosedError(`subscribe '${channel}': the fleet is closed`)
    let entry = this.#entries[mode].get(channel)
    if (!entry) {
      entry = { mode, channel, listeners: new Set(), confirmed: false }
      this.#entries[mode].set(channel, entry)
      if (this.#canSend()) void this.#send(mode, [entry])
    }
    entry.listeners.add(listener)
    this.open()
  }

  /** Removes a listener; the last one of a channel unsubscribes it from Redis. */
  remove(mode: Mode, channel: string, listener: RawListener): void {
    const entry = this.#entries[mode].get(channel)
    if (!entry?.listeners.delete(listener) || entry.listeners.size > 0) return
    this.#entries[mode].delete(channel)
    const client = this.#client
    if (!client || !this.#canSend()) return // not subscribed on Redis now; the next connect will not subscribe it
    const generation = this.#generation
    const sent = mode === 'subscribe' ? client.unsubscribe(channel) : client.sunsubscribe(channel)
    sent.catch((error: unknown) => {
      // MOVED: the slot left this node, and Redis already dropped the subscription with it.
      if (generation !== this.#generation || this.#closed || messageOf(error).startsWith('MOVED')) return
      this.#report(error, `unsubscribe '${channel}'`)
    })
  }

  /** Sends SSUBSCRIBE again for a channel Redis may have dropped (slot migration). */
  resubscribe(mode: Mode, channel: string): void {
    const entry = this.#entries[mode].get(channel)
    if (!entry || !this.#canSend()) return
    entry.confirmed = false
    void this.#send(mode, [entry])
  }

  onState(listener: (state: NodeState) => void): () => void {
    this.#stateListeners.add(listener)
    return () => this.#stateListeners.delete(listener)
  }

  /**
   * Commands may be written now. ioredis sets `status` synchronously when the socket closes
   * but emits 'close' a tick later, and a socket that was lost may stop being writable before
   * that: in between, a command would wait in the offline queue and be sent on the next
   * connection before our CLIENT ID, which a subscribed RESP2 connection refuses. Checking the
   * status and the socket closes that window (the next connection subscribes what is registered).
   */
  #canSend(): boolean {
    const client = this.#client
    return this.#connected && client?.status === 'ready' && client.stream?.writable !== false
  }

  /** Opens the connection if not yet (idempotent); a failure to create it is retried with backoff. */
  open(): void {
    if (this.#client || this.#opening || this.#closed || this.#openRetry) return
    this.#opening = true
    this.#open().then(
      (client) => {
        this.#opening = false
        if (this.#closed) {
          client.disconnect()
          return
        }
        this.#attach(client)
      },
      (error: unknown) => {
        this.#opening = false
        if (this.#closed) return
        this.#report(error, 'open')
        // A node this fleet never had a connection to (a master that died before its first
        // subscription) fails here, not by a drop: the hub looks for its slots' new owner too.
        this.#hooks.down(this)
        this.#openRetry = setTimeout(
          () => {
            this.#openRetry = undefined
            // Nobody needs this node any more (its channels moved away): stop trying.
            if (this.#hasUsers()) this.open()
          },
          reconnectDelay(++this.#openAttempts),
        )
      },
    )
  }

  #hasUsers(): boolean {
    return this.#entries.subscribe.size + this.#entries.ssubscribe.size + this.#stateListeners.size > 0
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#generation++
    clearTimeout(this.#openRetry)
    this.#entries.subscribe.clear()
    this.#entries.ssubscribe.clear()
    this.#stateListeners.clear()
    const client = this.#client
    this.#client = undefined
    this.#connected = false
    if (client) await closeClient(client)
  }

  #attach(client: DedicatedConnection): void {
    // RESP2: Redis sends the invalidations of CLIENT TRACKING REDIRECT as ordinary messages on
    // `__redis__:invalidate` only to a RESP2 connection (a RESP3 one gets 'invalidate' push
    // frames, which ioredis and node-redis drop). The client was made with lazyConnect (the
    // node-redis adapter makes its client on the first connect), so this applies.
    client.options.protocol = 2
    // We re-subscribe from our own registry on every connect (see the class comment); the
    // node-redis adapter honours it with a new client per connection.
    client.options.autoResubscribe = false
    // Cluster node connections are duplicated from ioredis' per-node clients, which never
    // reconnect on their own (the Cluster does it for them); a subscriber connection must.
    if (typeof client.options.retryStrategy !== 'function') client.options.retryStrategy = reconnectDelay
    client.on('ready', () => void this.#onReady(client))
    client.on('close', () => this.#onClose())
    client.on('messageBuffer', (channel: Buffer, message: RawPayload) =>
      this.#dispatch('subscribe', channel, message),
    )
    client.on('smessageBuffer', (channel: Buffer, message: RawPayload) =>
      this.#dispatch('ssubscribe', channel, message),
    )
    client.on('moved', () => this.#onMoved())
    this.#client = client
    // A failed first attempt is reported by the topology's error listener, and ioredis keeps
    // reconnecting with the retry strategy; 'ready' fires when it succeeds.
    client.connect().catch(() => undefined)
  }

  async #onReady(client: DedicatedConnection): Promise<void> {
    if (this.#closed || client !== this.#client) return
    const generation = ++this.#generation
    let id: number | undefined
    try {
      id = Number(await client.call('CLIENT', 'ID'))
    } catch (error) {
      if (generation !== this.#generation || this.#closed) return // dropped again: the next 'ready' retries
      // CLIENT ID refused (an ACL without it): pub/sub still works, only clientId() cannot.
      this.#report(error, 'client id')
    }
    if (generation !== this.#generation || this.#closed) return
    this.#clientId = id
    this.#connected = true
    const plain = [...this.#entries.subscribe.values()]
    const batches: [Mode, Entry[]][] = []
    for (let i = 0; i < plain.length; i += SUBSCRIBE_BATCH) {
      batches.push(['subscribe', plain.slice(i, i + SUBSCRIBE_BATCH)])
    }
    // SSUBSCRIBE takes channels of one slot only: one command per channel.
    for (const entry of this.#entries.ssubscribe.values()) batches.push(['ssubscribe', [entry]])
    // 'up' is set by the last of these to be answered, before waiters are told of its
    // confirmation: whoever sees a subscription confirmed also sees the node up.
    this.#resyncPending = batches.length
    if (batches.length === 0) this.#setState('up')
    for (const [mode, entries] of batches) void this.#send(mode, entries, true)
    this.#hooks.changed()
  }

  /**
   * Redis answered SSUBSCRIBE with MOVED, or pushed SUNSUBSCRIBE because a slot left this
   * node. ioredis does not say which channel: every sharded channel here counts as unconfirmed
   * until the hub has re-placed it (re-subscribed here, or moved to the slot's new owner).
   */
  #onMoved(): void {
    for (const entry of this.#entries.ssubscribe.values()) entry.confirmed = false
    this.#hooks.moved(this)
  }

  #onClose(): void {
    if (this.#closed) return
    this.#generation++
    this.#connected = false
    this.#clientId = undefined
    // Its PING, if one is out, goes with the connection (it answers undefined): a new one may go.
    this.#probing = undefined
    for (const map of Object.values(this.#entries)) for (const entry of map.values()) entry.confirmed = false
    this.#setState('down')
    this.#hooks.changed()
    this.#hooks.down(this)
  }

  /** Subscribes entries; never rejects (failures are reported, and the next connect retries). */
  async #send(mode: Mode, entries: Entry[], resync = false): Promise<void> {
    const client = this.#client
    if (!client) return
    const generation = this.#generation
    const channels = entries.map((e) => e.channel)
    try {
      if (mode === 'subscribe') await client.subscribe(...channels)
      else await client.ssubscribe(...channels)
    } catch (error) {
      if (generation !== this.#generation || this.#closed) return
      // MOVED: the slot is served elsewhere now; the hub re-places the channel ('moved' event).
      if (!messageOf(error).startsWith('MOVED')) this.#report(error, `${mode} '${channels.join("', '")}'`)
      if (resync) this.#resynced()
      return
    }
    if (generation !== this.#generation || this.#closed) return
    for (const entry of entries) {
      // Only the registration the command was sent for: it may have been removed (and even
      // re-added, with its own SUBSCRIBE queued behind an UNSUBSCRIBE) meanwhile.
      if (this.#entries[mode].get(entry.channel) === entry) entry.confirmed = true
    }
    if (resync) this.#resynced()
    this.#hooks.changed()
  }

  #resynced(): void {
    if (--this.#resyncPending === 0) this.#setState('up')
  }

  #dispatch(mode: Mode, channel: Buffer, message: RawPayload): void {
    const entry = this.#entries[mode].get(channel.toString())
    if (!entry) return
    forEachListener(entry.listeners, (listener) => this.#deliver(listener, message))
  }

  #deliver(listener: RawListener, message: RawPayload): void {
    try {
      listener(message)
    } catch (error) {
      report(this.#hooks.onError, error, 'pubsub listener')
    }
  }

  #setState(state: NodeState): void {
    if (this.#state === state) return
    this.#state = state
    for (const listener of [...this.#stateListeners]) {
      try {
        listener(state)
      } catch (error) {
        report(this.#hooks.onError, error, `subscriber ${this.nodeId} state listener`)
      }
    }
  }

  #report(error: unknown, what: string): void {
    const op = `subscriber ${this.nodeId} ${what}`
    report(this.#hooks.onError, translateError(error, op), op)
  }
}
