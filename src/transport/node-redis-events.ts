import { EventEmitter } from 'node:events'
import { anchorListeners, type NodeRedisClient } from './node-redis-client.ts'
import { holdWritesWhileLost } from './node-redis-lost-writes.ts'
import { listenShared } from './shared-listeners.ts'
import type { ConnectionEvents } from './types.ts'

/**
 * A user's node-redis client's connection events in the words watchConnection listens for
 * (ioredis'): 'ready', and one 'error' then 'close' for each lost connection and each failed
 * connection attempt. It only listens: the client, its reconnects and its own listeners are the
 * user's. (With a listener of redfleet's, an 'error' of a client that has none of the user's no
 * longer throws.)
 *
 * node-redis says 'error' for a lost connection (its socket's error, or "Socket closed
 * unexpectedly"), for each failed attempt, and for more than that: the same failure twice
 * (the cause, then again when its reconnectStrategy gives up; a PING of `pingInterval` failed by
 * the loss), or a live connection's reply it could not parse. So a failure is told once per
 * attempt: an attempt starts at each open, at each 'reconnecting' and with each 'ready' (the loss
 * of that connection is the attempt's end), and only its first error ends it.
 */
export class NodeRedisEvents extends EventEmitter implements ConnectionEvents {
  /** No retry strategy: a close on purpose ('end') is never told as a 'close'. */
  readonly options = {}
  readonly #client: NodeRedisClient
  #status = 'wait'
  /** The current attempt (or ready connection) has not failed yet. */
  #attempting = true
  #lastError: unknown
  readonly #stops: (() => void)[]

  constructor(client: NodeRedisClient) {
    super()
    this.#client = client
    // Before listening: stop() must be able to remove every listener (see anchorListeners).
    anchorListeners(client)
    // Shared: a user's client may be given to many fleets.
    this.#stops = [
      listenShared(client, 'ready', this.#ready),
      listenShared(client, 'reconnecting', this.#reconnecting),
      listenShared(client, 'error', this.#error),
      listenShared(client, 'end', this.#end),
      holdWritesWhileLost(client),
    ]
  }

  get status(): string {
    return this.#status
  }

  /** Stops listening to the client (the fleet closes; the client stays the user's). */
  stop(): void {
    for (const stop of this.#stops) stop()
  }

  readonly #ready = (): void => {
    this.#attempting = true
    this.#status = 'ready'
    this.emit('ready')
  }

  readonly #reconnecting = (): void => {
    this.#attempting = true
    this.#status = 'reconnecting'
  }

  readonly #error = (error: unknown): void => {
    const again = error === this.#lastError
    this.#lastError = error
    if (!this.#attempting || again || this.#client.isReady) return
    this.#attempting = false
    this.#status = 'reconnecting'
    this.emit('error', error)
    this.emit('close')
  }

  readonly #end = (): void => {
    this.#attempting = true
    this.#status = 'end'
  }
}
