import {
  type FleetContext,
  type OperationPolicy,
  operationPolicy,
  runCommand,
  traceScope,
} from '../context.ts'
import { ClosedError, closedDuring, translateError } from '../errors.ts'
import { linkSignals } from '../signals.ts'
import { type TraceScope, traced } from '../telemetry.ts'
import {
  assertCallOptions,
  assertFunction,
  assertName,
  assertSignal,
  describeValue,
  invalidArgument,
} from '../validate.ts'
import { guardListener, safely } from './listener.ts'
import { assertOptions } from './options.ts'

/** Options of `fleet.presence()` (SPEC §4). */
export interface PresenceOptions {
  /** Receives failed publishes and subscribes, and listeners that throw. Default: the fleet's onError. */
  onError?: ((e: unknown) => void) | undefined
}

/**
 * Rooms of binary messages (typing indicators, cursors, "who is here" pings): live,
 * at-most-once fan-out to every instance subscribed to a room (SPEC §4).
 */
export interface Presence {
  /**
   * Sends the payload (PUBLISH, or SPUBLISH on Redis Cluster) to everyone in the room.
   * Rejects (and reports to `onError`) when Redis cannot take it; it is not retried, so that
   * messages of one publisher to one room stay in order. TypeError for a bad room or payload.
   */
  publish(room: string, payload: Uint8Array | string): Promise<void>
  /**
   * Delivers every message published to the room from now on to `fn`, as a Buffer, until
   * `signal` aborts (or the fleet closes). Resolves only once Redis has confirmed the
   * subscription, so a message published after it resolves is received. Rejects with
   * ConnectionError after the fleet's `connectTimeout` (and then delivers nothing); resolves
   * at once if `signal` is already aborted, or aborts while waiting.
   */
  subscribe(
    room: string,
    fn: (payload: Buffer) => void,
    o?: { signal?: AbortSignal | undefined },
  ): Promise<void>
}

class FleetPresence implements Presence {
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  readonly #scope: TraceScope

  constructor(ctx: FleetContext, options: PresenceOptions) {
    this.#ctx = ctx
    this.#scope = traceScope(ctx)
    // One attempt: a retried message would arrive after messages published after it.
    this.#policy = operationPolicy(ctx, { ...options, retry: { attempts: 1 } })
  }

  #channel(op: string, room: unknown): string {
    assertName(room, 'room', op)
    return this.#ctx.keys.key('presence', room)
  }

  /** Traced on `redfleet:presence:publish` (SPEC §11), `{ channel: room }`. */
  publish(room: string, payload: Uint8Array | string): Promise<void> {
    return traced(
      'presence.publish',
      this.#scope,
      () => ({ channel: room }),
      () => this.#publish(room, payload),
    )
  }

  #publish(room: string, payload: Uint8Array | string): Promise<void> {
    let channel: string
    try {
      channel = this.#channel('presence.publish', room)
      if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
        throw invalidArgument(
          'ERR_INVALID_ARGUMENT',
          `presence.publish: payload must be a string or a Uint8Array, got ${describeValue(payload)}`,
        )
      }
    } catch (error) {
      return Promise.reject(error)
    }
    return runCommand(this.#ctx, this.#policy, 'presence.publish', room, () =>
      this.#ctx.subscriber().publish(channel, payload),
    )
  }

  /** Traced on `redfleet:presence:subscribe` (SPEC §11) until the subscription is confirmed. */
  subscribe(room: string, fn: (payload: Buffer) => void, o: { signal?: AbortSignal } = {}): Promise<void> {
    return traced(
      'presence.subscribe',
      this.#scope,
      () => ({ channel: room }),
      () => this.#subscribe(room, fn, o),
    )
  }

  async #subscribe(room: string, fn: (payload: Buffer) => void, o: { signal?: AbortSignal }): Promise<void> {
    const channel = this.#channel('presence.subscribe', room)
    assertFunction(fn, 'fn', 'presence.subscribe')
    assertCallOptions(o, 'presence.subscribe', ['signal'])
    const signal = o?.signal
    assertSignal(signal, 'presence.subscribe')
    this.#ctx.lifecycle.assertOpen(`presence.subscribe '${room}'`)
    if (signal?.aborted) return
    const deliver = guardListener(fn, (error) => this.#report(error, 'presence.listener'))
    const subscription = this.#ctx.subscriber().subscribe(channel, deliver)
    const stop = endWith(signal, this.#ctx.lifecycle.signal, () => subscription.unsubscribe())
    try {
      await subscription.ready(signal)
    } catch (error) {
      stop()
      if (signal?.aborted) return
      // Cut off by close: the caller hears it, as from any call close cuts off (nothing to report).
      if (error instanceof ClosedError) throw closedDuring(error, 'presence.subscribe', room)
      const failure = translateError(error, 'presence.subscribe', room)
      this.#report(failure, 'presence.subscribe')
      throw failure
    }
  }

  #report(error: unknown, op: string): void {
    safely((e) => this.#policy.onError(e, op), error)
  }
}

/**
 * Ends a subscription (`end`) when `signal` aborts, or when the returned function is called; the
 * fleet's close (`closing`) ends it by itself (a subscribe still waiting then rejects
 * ClosedError). After any of them nothing of it stays on `signal`, which may outlive the fleet
 * (a process's shutdown signal) and be shared by many subscriptions (linkSignals: one listener
 * on it for all of them).
 */
function endWith(signal: AbortSignal | undefined, closing: AbortSignal, end: () => void): () => void {
  if (signal === undefined) return end
  const linked = linkSignals(signal, closing)
  const detach = () => {
    linked.signal.removeEventListener('abort', onAbort)
    linked.unlink()
  }
  const onAbort = () => {
    detach()
    if (signal.aborted) end()
  }
  linked.signal.addEventListener('abort', onAbort, { once: true })
  return () => {
    detach()
    end()
  }
}

/** `fleet.presence()`: validates options synchronously (ConfigError) and does no I/O. */
export function createPresence(ctx: FleetContext, options: PresenceOptions = {}): Presence {
  assertOptions('presence', options)
  return new FleetPresence(ctx, options)
}
