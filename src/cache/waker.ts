import type { Lifecycle } from '../lifecycle.ts'
import type { ChannelSubscription, Subscriber } from '../pubsub/index.ts'
import { onAbort } from '../signals.ts'
import { sleep } from '../sleep.ts'
import type { FillWaker, FillWatch } from './fill.ts'

/** While notifications are live, polling is only a safety net against a lost message. */
const LIVE_POLL = 250

/** Polling while notifications are not live: 5, 10, 20 … 100 ms apart (`attempt` counts from 1). */
function pollDelay(attempt: number): number {
  return Math.min(5 * 2 ** Math.min(attempt - 1, 5), 100)
}

/**
 * Fill notifications over the fleet's pub/sub hub: a fill holder publishes the entry's key on
 * one channel per fleet namespace, and every waiting process wakes at once and reads the value.
 * The subscription is made when a wait begins and dropped once no wait is left: a cache object
 * made per request holds nothing after its waits (kept until the fleet closed, each kept a
 * listener and a cleanup of the fleet's). Until Redis has confirmed it (and whenever it is down),
 * waiters poll instead (pollDelay).
 */
export class PubSubWaker implements FillWaker {
  readonly #subscriber: () => Subscriber
  readonly #channel: string
  readonly #watches = new Map<string, Set<Watch>>()
  #subscription: ChannelSubscription | undefined
  /** Takes close() out of the fleet's cleanups, while subscribed. */
  #unregister: (() => void) | undefined
  #live = false

  readonly #lifecycle: Lifecycle

  constructor(subscriber: () => Subscriber, channel: string, lifecycle: Lifecycle) {
    this.#subscriber = subscriber
    this.#channel = channel
    this.#lifecycle = lifecycle
  }

  #ensureSubscribed(): void {
    if (this.#subscription || this.#lifecycle.closed) return
    let subscription: ChannelSubscription
    try {
      subscription = this.#subscriber().subscribe(this.#channel, (payload) => this.#wake(payload.toString()))
    } catch {
      return // closed fleet: the caller's own wait rejects with ClosedError
    }
    this.#subscription = subscription
    this.#unregister = this.#lifecycle.onClose(() => this.close())
    subscription.ready().then(
      () => {
        // Still the one: not dropped (no wait left) before Redis confirmed it.
        if (this.#subscription === subscription) this.#live = true
      },
      () => {
        // Not confirmed in time: waiters keep polling; the hub re-subscribes by itself.
      },
    )
  }

  #wake(key: string): void {
    const watches = this.#watches.get(key)
    if (watches) for (const watch of watches) watch.notified()
  }

  watch(key: string): FillWatch {
    this.#ensureSubscribed()
    const watch = new Watch(
      () => this.#live,
      () => {
        const set = this.#watches.get(key)
        set?.delete(watch)
        if (set?.size === 0) this.#watches.delete(key)
        if (this.#watches.size === 0) this.close()
      },
    )
    let set = this.#watches.get(key)
    if (!set) {
      set = new Set()
      this.#watches.set(key, set)
    }
    set.add(watch)
    return watch
  }

  async notify(key: string): Promise<void> {
    try {
      await this.#subscriber().publish(this.#channel, key)
    } catch {
      // Waiters poll: a lost notification costs latency, never correctness.
    }
  }

  /** Drops the subscription (no wait left, or the fleet closes); the next wait subscribes again. */
  close(): void {
    this.#subscription?.unsubscribe()
    this.#subscription = undefined
    this.#unregister?.()
    this.#unregister = undefined
    this.#live = false
  }
}

class Watch implements FillWatch {
  #pending = false
  #wakeUp: (() => void) | undefined

  constructor(
    private readonly live: () => boolean,
    private readonly onClose: () => void,
  ) {}

  notified(): void {
    this.#pending = true
    this.#wakeUp?.()
  }

  async wait(ms: number, attempt: number, signal: AbortSignal): Promise<void> {
    if (this.#pending) {
      this.#pending = false
      return
    }
    const controller = new AbortController()
    const stopListening = onAbort(signal, () => controller.abort(signal.reason))
    this.#wakeUp = () => controller.abort('woken')
    try {
      // Ends early when woken (a notification) or aborted; only the caller's abort fails the wait.
      await sleep(Math.min(ms, this.live() ? LIVE_POLL : pollDelay(attempt)), controller.signal)
      signal.throwIfAborted()
    } finally {
      this.#wakeUp = undefined
      this.#pending = false
      stopListening()
    }
  }

  close(): void {
    this.onClose()
  }
}
