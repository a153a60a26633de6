import type { TracingChannel } from 'node:diagnostics_channel'
import {
  isTraced,
  type OpenTrace,
  type OperationContext,
  operationChannel,
  type TraceScope,
  tracedWith,
} from '../telemetry.ts'
import { CACHE_OPS, type CacheMethod } from './run.ts'

/**
 * What a cache call's trace on the TracingChannel `redfleet:cache:<method>` carries (SPEC §3,
 * §11): the cache namespace and topology, the key(s) the caller passed (normalised), and, when
 * the call ends, whether it hit (single-key reads, `near` when the near cache answered) or which
 * keys hit (multi-key reads, `nearHits` of them answered by the near cache). The fields name
 * keys, never a value; `result`, which the channel adds on asyncEnd, is what the call resolves
 * with (SPEC §11: results on asyncEnd).
 */
export interface CacheEvent extends OperationContext {
  method: string
  key?: string
  keys?: string[]
  hit?: boolean
  /** A hit the in-process near cache answered (single-key reads): counted in `stats().nearHits`. */
  near?: boolean
  hits?: string[]
  /** How many of `hits` the in-process near cache answered (multi-key reads), as `stats().nearHits` counts them. */
  nearHits?: number
}

/** What a cache call learnt on its way, noted on its trace (names and hits only). */
export type CacheNote = Omit<CacheEvent, 'method' | 'namespace' | 'topology'>

/**
 * Traces each public cache call once, whatever commands it sends (those go through the runner
 * untraced), with the telemetry's one mechanism (src/telemetry.ts `tracedWith`): start when it
 * begins, asyncEnd with the outcome (or error) when it ends. No context is built when nobody listens.
 */
export class Instrument {
  readonly #scope: TraceScope

  constructor(namespace: string, topology: string) {
    this.#scope = { namespace, topology }
  }

  /**
   * Nobody listens to `method`'s channel now: a call may skip the trace (and `call` does). One
   * lookup of a channel found once per method, no name built.
   */
  quiet(method: CacheMethod): boolean {
    return !isTraced(channelOf(method))
  }

  /** Runs one public call of `method` traced; `fn` notes its key and hits on the trace it gets. */
  call<T>(method: CacheMethod, fn: (trace: OpenTrace | undefined) => Promise<T>): Promise<T> {
    if (!isTraced(channelOf(method))) return fn(undefined)
    return tracedWith(CACHE_OPS[method], this.#scope, (trace) => {
      trace?.note({ method })
      return fn(trace)
    })
  }
}

/** Each cache method's TracingChannel, looked up on its first call (shared by every cache). */
const channels: Partial<Record<CacheMethod, TracingChannel<unknown, OperationContext>>> = {}

function channelOf(method: CacheMethod): TracingChannel<unknown, OperationContext> {
  let channel = channels[method]
  if (channel === undefined) {
    channel = operationChannel(CACHE_OPS[method])
    channels[method] = channel
  }
  return channel
}

/** Notes `fields` on a cache call's trace, when it is traced. */
export function note(trace: OpenTrace | undefined, fields: CacheNote): void {
  trace?.note(fields)
}
