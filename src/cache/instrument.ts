import diagnosticsChannel, { type Channel } from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'

/**
 * What `redfleet:cache:<method>` carries: the key(s) the caller passed (normalised), whether it
 * hit (single-key reads) or which keys hit (multi-key reads), the cache namespace, and how long
 * the call took in ms.
 */
export interface CacheEvent {
  method: string
  namespace: string
  key?: string
  keys?: string[]
  hit?: boolean
  hits?: string[]
  duration: number
}

const channels = new Map<string, Channel>()

function channelOf(method: string): Channel {
  let channel = channels.get(method)
  if (!channel) {
    channel = diagnosticsChannel.channel(`redfleet:cache:${method}`)
    channels.set(method, channel)
  }
  return channel
}

/**
 * Publishes on `redfleet:cache:<method>`; costs one property read when nobody listens, so it
 * stays on every call.
 */
export class Instrument {
  constructor(readonly namespace: string) {}

  /** A start time when someone listens to `method`, else undefined (and nothing is measured). */
  start(method: string): number | undefined {
    return channelOf(method).hasSubscribers ? performance.now() : undefined
  }

  publish(
    method: string,
    started: number | undefined,
    fields: Omit<CacheEvent, 'method' | 'namespace' | 'duration'>,
  ): void {
    if (started === undefined) return
    const channel = channelOf(method)
    if (!channel.hasSubscribers) return
    channel.publish({ method, namespace: this.namespace, ...fields, duration: performance.now() - started })
  }
}
