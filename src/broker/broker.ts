import { type FleetContext, operationPolicy, traceScope } from '../context.ts'
import { ClosedError, closedDuring, translateError } from '../errors.ts'
import type { ChannelSubscription } from '../pubsub/index.ts'
import { turnIfSpinning } from '../retry.ts'
import { openTrace, type TraceScope, traced } from '../telemetry.ts'
import {
  assertFunction,
  describeValue,
  invalidArgument,
  isWellFormed,
  LONE_SURROGATE_TEXT,
  nameOption,
} from '../validate.ts'
import { guardListener, safely } from './listener.ts'
import { assertOptions } from './options.ts'

/** Options of `fleet.broker()` (SPEC §4). */
export interface BrokerOptions {
  /** The channel, inside the fleet namespace (`${namespace}:broker:${channel}`); default 'events'. */
  channel?: string | undefined
  /**
   * Receives what cannot be thrown at a caller: failed publishes and listeners that throw.
   * Default: the fleet's `onError`.
   */
  onError?: ((e: unknown) => void) | undefined
}

/**
 * Live fan-out of string messages to every subscribed instance of the fleet, the publisher's
 * own included (SPEC §4). At-most-once, like Redis Pub/Sub: a message published while an
 * instance is disconnected is not replayed to it. Use `fleet.streams()` for durable delivery.
 */
export interface Broker {
  /**
   * Sends PUBLISH (SPUBLISH on Redis Cluster) to the channel's node. Never rejects on a
   * Redis failure: the error goes to `onError` and the promise resolves; it is not retried,
   * since a retry would overtake later messages. Only a non-string message rejects (TypeError).
   * Messages published through one fleet to one channel reach Redis in call order.
   */
  publish(message: string): Promise<void>
  /**
   * Adds a listener and returns the function that removes it. The first listener of the fleet
   * on this channel subscribes its shared subscriber connection (opened now if needed); the
   * last one to leave unsubscribes it. A throwing (or rejecting) listener is reported to
   * `onError` and the other listeners still get the message. Throws ClosedError after close.
   */
  subscribe(listener: (message: string) => void): () => void
  /**
   * Resolves once Redis has confirmed the subscription of every current listener (at once
   * with no listener, and in memory). Rejects with ConnectionError after the fleet's
   * `connectTimeout` if Redis cannot be reached; the listeners stay registered and go live
   * by themselves once it is back.
   */
  ready(): Promise<void>
}

class FleetBroker implements Broker {
  readonly #ctx: FleetContext
  readonly #name: string
  readonly #channel: string
  readonly #onError: (error: unknown, op: string) => void
  readonly #subscriptions = new Set<ChannelSubscription>()
  readonly #scope: TraceScope
  readonly #subject: () => { channel: string }

  constructor(ctx: FleetContext, options: BrokerOptions) {
    this.#ctx = ctx
    this.#scope = traceScope(ctx)
    this.#name = options.channel ?? 'events'
    this.#channel = ctx.keys.key('broker', this.#name)
    this.#onError = operationPolicy(ctx, options).onError
    const subject = { channel: this.#name }
    this.#subject = () => ({ ...subject })
  }

  /** Traced on `redfleet:broker:publish` (SPEC §11); resolves even when Redis fails (onError). */
  publish(message: string): Promise<void> {
    return traced('broker.publish', this.#scope, this.#subject, () => this.#publish(message))
  }

  #publish(message: string): Promise<void> {
    if (typeof message !== 'string') {
      return Promise.reject(
        invalidArgument(
          'ERR_INVALID_ARGUMENT',
          `broker.publish: message must be a string, got ${describeValue(message)}`,
        ),
      )
    }
    // Redis would deliver U+FFFD in its place, where memory delivers it as it is.
    if (!isWellFormed(message)) {
      return Promise.reject(
        invalidArgument('ERR_INVALID_ARGUMENT', `broker.publish: message ${LONE_SURROGATE_TEXT}`),
      )
    }
    if (this.#ctx.lifecycle.closed) {
      return this.#failed(new ClosedError(`broker.publish '${this.#name}': the fleet is closed`))
    }
    return this.#ctx
      .subscriber()
      .publish(this.#channel, message)
      .catch((error: unknown) => this.#failed(translateError(error, 'broker.publish', this.#name)))
  }

  /**
   * A failed publish goes to onError and resolves; as a rejection would, once the loop has turned
   * when many fail at once (SPIN_LIMIT): a loop publishing while its node is known down (refused
   * at once) would otherwise never let a timer or the reconnect run.
   */
  async #failed(error: unknown): Promise<void> {
    this.#report(error, 'broker.publish')
    await turnIfSpinning()
  }

  /**
   * Traced on `redfleet:broker:subscribe` for as long as the listener is subscribed: start and
   * end when it is added, asyncEnd when it is removed or the fleet closes (or error if it could
   * not be added).
   */
  subscribe(listener: (message: string) => void): () => void {
    const trace = openTrace('broker.subscribe', this.#scope, this.#subject)
    try {
      const unsubscribe = this.#subscribe(listener)
      if (trace === undefined) return unsubscribe
      let ended = false
      const end = () => {
        if (ended) return
        ended = true
        stopOnClose()
        trace.end()
      }
      const stopOnClose = this.#ctx.lifecycle.onClose(end)
      return () => {
        unsubscribe()
        end()
      }
    } catch (error) {
      trace?.fail(error)
      throw error
    }
  }

  #subscribe(listener: (message: string) => void): () => void {
    assertFunction(listener, 'listener', 'broker.subscribe')
    this.#ctx.lifecycle.assertOpen(`broker.subscribe '${this.#name}'`)
    const deliver = guardListener(listener, (error) => this.#report(error, 'broker.listener'))
    const subscription = this.#ctx
      .subscriber()
      .subscribe(this.#channel, (payload) => deliver(payload.toString('utf8')))
    this.#subscriptions.add(subscription)
    return () => {
      this.#subscriptions.delete(subscription)
      subscription.unsubscribe()
    }
  }

  ready(): Promise<void> {
    return traced('broker.ready', this.#scope, this.#subject, () => this.#ready())
  }

  async #ready(): Promise<void> {
    this.#ctx.lifecycle.assertOpen(`broker.ready '${this.#name}'`)
    try {
      await Promise.all([...this.#subscriptions].map((s) => s.ready()))
    } catch (error) {
      if (error instanceof ClosedError) throw closedDuring(error, 'broker.ready', this.#name)
      throw translateError(error, 'broker.ready', this.#name)
    }
  }

  #report(error: unknown, op: string): void {
    safely((e) => this.#onError(e, op), error)
  }
}

/** `fleet.broker()`: validates options synchronously (ConfigError) and does no I/O. */
export function createBroker(ctx: FleetContext, options: BrokerOptions = {}): Broker {
  assertOptions('broker', options)
  if (options.channel !== undefined) {
    nameOption(options.channel, 'broker channel')
  }
  return new FleetBroker(ctx, options)
}
