import { ClosedError } from '../errors.ts'
import { report } from './report.ts'
import type { ChannelSubscription, NodeSubscriber, PayloadListener, Subscriber } from './types.ts'

interface Registration {
  readonly channel: string
  readonly listener: PayloadListener
  /** The subscriber (one per fleet) it belongs to: as on Redis, each one gets its own copy. */
  readonly owner: object
  active: boolean
}

interface Delivery {
  readonly targets: Registration[]
  readonly payload: Buffer
}

/**
 * In-process pub/sub, one per process, shared by every memory fleet in it the way every
 * process of a real fleet shares one Redis. It keeps Redis' semantics: delivery is
 * asynchronous (never inside `publish`), a message reaches the listeners registered when it
 * was published that are still registered when it is delivered, and messages are delivered
 * in publish order (one FIFO queue for the process, so per-publisher order holds).
 */
export class MemoryBus {
  readonly #channels = new Map<string, Set<Registration>>()
  #queue: Delivery[] = []
  #scheduled = false

  add(registration: Registration): void {
    let set = this.#channels.get(registration.channel)
    if (!set) {
      set = new Set()
      this.#channels.set(registration.channel, set)
    }
    set.add(registration)
  }

  remove(registration: Registration): void {
    registration.active = false
    const set = this.#channels.get(registration.channel)
    if (!set) return
    set.delete(registration)
    if (set.size === 0) this.#channels.delete(registration.channel)
  }

  publish(channel: string, payload: Buffer): void {
    const set = this.#channels.get(channel)
    if (!set || set.size === 0) return
    this.#queue.push({ targets: [...set], payload })
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => this.#drain())
  }

  #drain(): void {
    this.#scheduled = false
    const queue = this.#queue
    this.#queue = []
    for (const { targets, payload } of queue) {
      // Each fleet reads its own copy off its own connection on Redis: a listener of one fleet
      // that writes into the Buffer must not change what another fleet's listeners get. The
      // copies are made before any listener runs.
      const copies = new Map<object, Buffer>()
      for (const { owner } of targets) {
        if (!copies.has(owner)) copies.set(owner, copies.size === 0 ? payload : Buffer.from(payload))
      }
      for (const target of targets) if (target.active) target.listener(copies.get(target.owner)!)
    }
  }
}

/** The process-wide bus every memory fleet uses. */
export const processBus = new MemoryBus()

/** Copies the payload, so a caller reusing its buffer cannot change a message in flight. */
export function payloadBuffer(payload: string | Uint8Array): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload)
}

/** The memory topology's Subscriber: subscriptions are live at once, there are no nodes. */
export class MemorySubscriber implements Subscriber {
  readonly #bus: MemoryBus
  readonly #onError: (error: unknown, context: { op: string }) => void
  readonly #mine = new Set<Registration>()
  #closed = false

  constructor(bus: MemoryBus, onError: (error: unknown, context: { op: string }) => void) {
    this.#bus = bus
    this.#onError = onError
  }

  subscribe(channel: string, listener: PayloadListener): ChannelSubscription {
    if (this.#closed) throw new ClosedError(`subscribe '${channel}': the fleet is closed`)
    const registration: Registration = {
      channel,
      owner: this,
      active: true,
      // The primitives isolate their listeners; this guard only keeps the bus itself safe.
      listener: (payload) => {
        try {
          listener(payload)
        } catch (error) {
          report(this.#onError, error, 'pubsub listener')
        }
      },
    }
    this.#bus.add(registration)
    this.#mine.add(registration)
    return {
      ready: (signal) => {
        if (signal?.aborted) return Promise.reject(signal.reason)
        if (this.#closed)
          return Promise.reject(new ClosedError(`subscribe '${channel}': the fleet is closed`))
        return Promise.resolve()
      },
      unsubscribe: () => {
        this.#bus.remove(registration)
        this.#mine.delete(registration)
      },
    }
  }

  async publish(channel: string, payload: string | Uint8Array): Promise<void> {
    if (this.#closed) throw new ClosedError(`publish '${channel}': the fleet is closed`)
    this.#bus.publish(channel, payloadBuffer(payload))
  }

  node(nodeId: string): NodeSubscriber {
    // Only the near cache's tracking asks for a node, and it runs on Redis topologies only.
    throw new Error(`redfleet internal error: the memory topology has no Redis nodes (asked for ${nodeId})`)
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const registration of this.#mine) this.#bus.remove(registration)
    this.#mine.clear()
  }
}
