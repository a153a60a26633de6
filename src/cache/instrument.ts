import { type OperationContext, operationChannel } from '../telemetry.ts'

/**
 * What a cache call's trace on the TracingChannel `redfleet:cache:<method>` carries (SPEC §3,
 * §11): the cache namespace and topology, the key(s) the caller passed (normalised), and, when
 * the call ends, whether it hit (single-key reads, `near` when the near cache answered) or which
 * keys hit (multi-key reads). Never a value.
 */
export interface CacheEvent extends OperationContext {
  method: string
  key?: string
  keys?: string[]
  hit?: boolean
  near?: boolean
  hits?: string[]
}

/**
 * Traces each public cache call once, whatever commands it sends (those go through the runner
 * untraced): `start` when it begins, `asyncStart`/`asyncEnd` with the outcome when it ends. It
 * costs one property read when nobody listens, so it stays on every call.
 */
export class Instrument {
  constructor(
    readonly namespace: string,
    readonly topology: string,
  ) {}

  /** The call's trace context when someone listens to `method`, else undefined (nothing traced). */
  start(method: string): CacheEvent | undefined {
    const channel = operationChannel(`cache.${method}`)
    if (!channel.hasSubscribers) return undefined
    const event: CacheEvent = { method, namespace: this.namespace, topology: this.topology }
    channel.start.publish(event)
    channel.end.publish(event)
    return event
  }

  /** Ends the trace `start` began, with what the call found. */
  publish(
    method: string,
    event: CacheEvent | undefined,
    fields: Omit<CacheEvent, 'method' | 'namespace' | 'topology'>,
  ): void {
    if (event === undefined) return
    Object.assign(event, fields)
    const channel = operationChannel(`cache.${method}`)
    channel.asyncStart.publish(event)
    channel.asyncEnd.publish(event)
  }
}
