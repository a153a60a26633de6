import { safely } from '../broker/listener.ts'
import {
  type FleetContext,
  type OperationPolicy,
  operationPolicy,
  runCommand,
  traceScope,
} from '../context.ts'
import { assertWaitFor, durabilityOf, waitForOption } from '../durability.ts'
import { ClosedError, translateError, type WaitFor } from '../errors.ts'
import { closeGrace, DETACHED, settledWithin } from '../lifecycle.ts'
import type { RetryOptions } from '../retry.ts'
import { linkSignals } from '../signals.ts'
import { PrimitiveTracer, type Subject } from '../telemetry.ts'
import {
  assertCallOptions,
  assertFunction,
  assertName,
  assertSignal,
  checkOptions,
  countArgument,
  describeValue,
  functionOption,
  invalidArgument,
  positiveInteger,
} from '../validate.ts'
import { streamBackend } from './access.ts'
import type { AppendDurability, StreamBackend, StreamWrite } from './backend.ts'
import { ConsumerLoop, type DeadLetterRecord } from './consumer.ts'
import { type Delivery, decodeEntry, type Envelope, encodeEnvelope } from './entry.ts'
import { afterIdArg } from './ids.ts'
import { STREAMS_OPTIONS } from './options.ts'
import { deadLetterId, newPublishId, withPublishId } from './publish-ids.ts'
import { readEntries } from './reader.ts'

/** Options of `fleet.streams()` (SPEC §5). */
export interface StreamsOptions {
  /** Approximate cap of the main event stream (`MAXLEN ~`); default 1,000,000. */
  eventsMaxLen?: number | undefined
  /** Approximate cap of each channel stream, dead-letter channels included; default 500. */
  channelMaxLen?: number | undefined
  /**
   * Most dedicated connections per Redis node for blocking reads (tail, consume, inbox), shared
   * by every primitive of the fleet; when several ask, the largest value wins. Default 16.
   */
  maxBlockingConnections?: number | undefined
  /** Failures of background loops that they ride out (lost connections); default: the fleet's onError. */
  onError?: ((e: unknown) => void) | undefined
  /**
   * Durability of `publish` and `publishToChannel` (SPEC §10), unless a call gives its own:
   * they resolve once WAIT (and WAITAOF) confirmed the entries. Default: none.
   */
  waitFor?: WaitFor | undefined
  /** Retry policy of its calls (SPEC §8); default: the fleet's. */
  retry?: RetryOptions | undefined
}

/** Options of one `publish` or `publishToChannel` call. */
export interface PublishOptions {
  /** Overrides `StreamsOptions.waitFor` for this call (`{ replicas: 0 }`: wait for nothing). */
  waitFor?: WaitFor | undefined
}

/** Options of `consume` (SPEC §5). */
export interface ConsumeOptions {
  /** Stops the loop: no new handler starts, running ones settle, then `consume` resolves. */
  signal?: AbortSignal | undefined
  /** Entries per read (XREADGROUP / XAUTOCLAIM COUNT); default 64. */
  batch?: number | undefined
  /** A pending entry idle this long (ms) is redelivered to any consumer; default 30,000. */
  minIdle?: number | undefined
  /** Deliveries without success before an entry is dead-lettered; default 10. */
  maxDeliveries?: number | undefined
  /** Channel that receives dead letters; default `${group}:dead`. */
  deadLetter?: string | undefined
  /** Handlers running at once; default 1 (one at a time, in id order). */
  concurrency?: number | undefined
}

/** A durable event log: one main stream, channel streams, tails and consumer groups (SPEC §5). */
export interface Streams {
  /**
   * Appends `env` to the main stream and to each channel (XADD with `MAXLEN ~`), one pipeline
   * per node (with its WAIT/WAITAOF when `waitFor` asks: DurabilityError when they fall short,
   * the entries stay). Returns the main stream's id. Not atomic across streams. Each call
   * carries a publish id in its entries, so redfleet's retry of a send whose reply was lost
   * adds no second copy and returns the first one's id (see docs/streams.md).
   */
  publish<E extends object = Envelope>(env: E, channels?: string[], o?: PublishOptions): Promise<string>
  /** Appends `env` to one channel only (never the main stream), like `publish`; returns its id. */
  publishToChannel<E extends object = Envelope>(channel: string, env: E, o?: PublishOptions): Promise<string>
  /** Up to `limit` (500) entries strictly after `afterId` ('0', '' or undefined: from the start). */
  readRange(channel: string, afterId?: string, limit?: number): Promise<Delivery[]>
  /**
   * Calls `deliver` for every entry of `channel` after `fromId` (undefined or '$': entries added
   * from now on), one at a time, until `signal` aborts or the fleet closes, then resolves.
   * A throwing `deliver` ends the tail and `tail` rejects with its error.
   */
  tail(
    channel: string,
    fromId: string | undefined,
    deliver: (d: Delivery) => void | Promise<void>,
    o?: { signal?: AbortSignal | undefined },
  ): Promise<void>
  /** Like `tail` on the main stream from now on: every caller sees every new event. */
  tailEvents(
    handle: (d: Delivery) => void | Promise<void>,
    o?: { signal?: AbortSignal | undefined },
  ): Promise<void>
  /** Creates consumer group `group` on the main stream from its start; idempotent. */
  ensureGroup(group: string): Promise<void>
  /**
   * Consumes the main stream as `consumer` of `group`, at least once: see ConsumeOptions and
   * docs/streams.md. Resolves after `signal` aborts (or the fleet closes) and in-flight
   * handlers settle (on close, at most 5 s: a handler still running then is reported to onError
   * and no longer waited for); rejects only on a command error (e.g. WRONGTYPE).
   */
  consume(
    group: string,
    consumer: string,
    handle: (d: Delivery) => Promise<void> | void,
    o?: ConsumeOptions,
  ): Promise<void>
  /** Entries of the main stream not yet acked by `group` (never delivered + pending); 0 if none. */
  groupLag(group: string): Promise<number>
}

function first(ids: string[]): string {
  return ids[0]!
}

const DEFAULT_EVENTS_MAX_LEN = 1_000_000
const DEFAULT_CHANNEL_MAX_LEN = 500

class FleetStreams implements Streams {
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  readonly #tracer: PrimitiveTracer
  readonly #backend: StreamBackend
  readonly #eventsMaxLen: number
  readonly #channelMaxLen: number
  readonly #mainKey: string
  readonly #channelPrefix: string
  readonly #onError: (error: unknown, op: string) => void
  readonly #waitFor: WaitFor | undefined
  readonly #loops = new Set<RunningLoop>()
  #unregister: (() => void) | undefined

  constructor(ctx: FleetContext, options: StreamsOptions) {
    this.#eventsMaxLen = positiveInteger('streams: eventsMaxLen', options.eventsMaxLen, {
      fallback: DEFAULT_EVENTS_MAX_LEN,
    })
    this.#channelMaxLen = positiveInteger('streams: channelMaxLen', options.channelMaxLen, {
      fallback: DEFAULT_CHANNEL_MAX_LEN,
    })
    const blocking =
      options.maxBlockingConnections === undefined
        ? undefined
        : positiveInteger('streams: maxBlockingConnections', options.maxBlockingConnections)
    if (options.onError !== undefined) functionOption(options.onError, 'streams: onError')
    if (options.waitFor !== undefined) waitForOption(options.waitFor, 'streams: waitFor')
    this.#ctx = ctx
    this.#waitFor = options.waitFor
    this.#policy = operationPolicy(ctx, options)
    this.#tracer = new PrimitiveTracer('streams', traceScope(ctx))
    this.#onError = this.#policy.onError
    this.#backend = streamBackend(ctx, blocking)
    this.#mainKey = ctx.keys.key('streams', 'events')
    this.#channelPrefix = ctx.keys.key('streams', 'channel', '')
  }

  /** The key of `channel`; `what` names it in a refusal (an option naming a channel says so). */
  #channelKey(op: string, channel: unknown, what = 'channel'): string {
    assertName(channel, what, op)
    return this.#channelPrefix + channel
  }

  #run<T>(op: string, name: string | undefined, fn: () => Promise<T>): Promise<T> {
    return runCommand(this.#ctx, this.#policy, `streams.${op}`, name, fn)
  }

  /**
   * Traces one public call on `redfleet:streams:<op>` (SPEC §11), from its start to what it
   * resolves (a loop: until it stops), validation errors included.
   */
  // Generic so that an event typed as an interface (which TypeScript gives no index signature,
  // so it is no Envelope) needs no cast; the envelope is checked at run time all the same.
  publish<E extends object = Envelope>(env: E, channels: string[] = [], o?: PublishOptions): Promise<string> {
    const subject = () => ({
      channel: 'events',
      channels: Array.isArray(channels) ? channels.filter((c) => typeof c === 'string') : [],
    })
    return this.#tracer.run('publish', subject, () => this.#publish(env as Envelope, channels, o))
  }

  publishToChannel<E extends object = Envelope>(
    channel: string,
    env: E,
    o?: PublishOptions,
  ): Promise<string> {
    return this.#tracer.run(
      'publishToChannel',
      () => ({ channel }),
      () => this.#publishToChannel(channel, env as Envelope, o),
    )
  }

  readRange(channel: string, afterId?: string, limit = 500): Promise<Delivery[]> {
    return this.#tracer.run(
      'readRange',
      () => ({ channel }),
      () => this.#readRange(channel, afterId, limit),
    )
  }

  ensureGroup(group: string): Promise<void> {
    return this.#tracer.run(
      'ensureGroup',
      () => ({ channel: 'events', group }),
      () => this.#ensureGroup(group),
    )
  }

  groupLag(group: string): Promise<number> {
    return this.#tracer.run(
      'groupLag',
      () => ({ channel: 'events', group }),
      () => this.#groupLag(group),
    )
  }

  async #publish(env: Envelope, channels: string[] = [], o?: PublishOptions): Promise<string> {
    if (!Array.isArray(channels)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `streams.publish: channels must be an array of names, got ${describeValue(channels)}`,
      )
    }
    // One publish id for the call, in every entry it adds, so a resend adds no second copy.
    const id = newPublishId()
    const fields = withPublishId(encodeEnvelope(env, 'streams.publish', 'events')[1]!, id)
    const durable = this.#durable('publish', 'events', o)
    const writes: StreamWrite[] = [this.#write(this.#mainKey, fields, this.#eventsMaxLen, id)]
    for (const channel of channels) {
      const key = this.#channelKey('streams.publish', channel)
      // A channel listed twice gets the entry once.
      if (!writes.some((w) => w.key === key)) writes.push(this.#write(key, fields, this.#channelMaxLen, id))
    }
    // The main stream's id, which the call returns (and its trace's result is).
    return this.#run('publish', undefined, this.#appendOnce(writes, durable))
  }

  /**
   * The attempts of one publish: the first is plain XADDs, every later one (redfleet's retry,
   * after a failure that may have left the entries written) looks for them first, and leaves out
   * the writes an earlier attempt saw acknowledged (StreamWrite.written). Resolves with the
   * first write's id: the main stream's, or the one channel's.
   */
  #appendOnce(writes: StreamWrite[], durable: AppendDurability | undefined): () => Promise<string> {
    let resend = false
    return () => {
      if (!resend) {
        resend = true
        return this.#backend.append(writes, durable, false).then(first)
      }
      const left = writes.filter((write) => write.written === undefined)
      const sending = left.length === 0 ? Promise.resolve([]) : this.#backend.append(left, durable, true)
      return sending.then((ids) => {
        left.forEach((write, i) => {
          write.written = ids[i]
        })
        return writes[0]!.written!
      })
    }
  }

  async #publishToChannel(channel: string, env: Envelope, o?: PublishOptions): Promise<string> {
    const key = this.#channelKey('streams.publishToChannel', channel)
    const id = newPublishId()
    const fields = withPublishId(encodeEnvelope(env, 'streams.publishToChannel', channel)[1]!, id)
    const durable = this.#durable('publishToChannel', channel, o)
    const write = this.#write(key, fields, this.#channelMaxLen, id)
    return this.#run('publishToChannel', channel, this.#appendOnce([write], durable))
  }

  #write(key: string, fields: string[], maxLen: number, publishId: string): StreamWrite {
    return { key, fields, maxLen, approximate: true, once: publishId }
  }

  /** What a publish waits for: its own `waitFor`, else the streams'; nothing in memory. */
  #durable(op: string, name: string, o: PublishOptions | undefined): AppendDurability | undefined {
    assertCallOptions(o, `streams.${op}`, ['waitFor'])
    const own = assertWaitFor(o?.waitFor, `streams.${op}`)
    const durability = this.#ctx.topology === 'memory' ? undefined : durabilityOf(own ?? this.#waitFor)
    return durability && { durability, where: `streams.${op} '${name}'` }
  }

  async #readRange(channel: string, afterId?: string, limit = 500): Promise<Delivery[]> {
    const key = this.#channelKey('streams.readRange', channel)
    let after = afterIdArg('streams.readRange', afterId)
    countArgument(limit, 'limit', 'streams.readRange', 500)
    return this.#run('readRange', channel, async () => {
      const out: Delivery[] = []
      // Entries not written by redfleet are skipped, so a short page is not the end: read on
      // until `limit` deliveries are found or the stream is.
      for (;;) {
        const want = limit - out.length
        const entries = await this.#backend.range(key, after, want)
        for (const entry of entries) {
          const delivery = decodeEntry(entry)
          if (delivery) out.push(delivery)
        }
        if (entries.length < want || out.length >= limit) return out
        after = entries[entries.length - 1]!.id
      }
    })
  }

  tail(
    channel: string,
    fromId: string | undefined,
    deliver: (d: Delivery) => void | Promise<void>,
    o: { signal?: AbortSignal } = {},
  ): Promise<void> {
    return this.#loop(
      'tail',
      () => ({ channel }),
      () => {
        const key = this.#channelKey('streams.tail', channel)
        const after = fromId === undefined || fromId === '$' ? '$' : afterIdArg('streams.tail', fromId)
        return {
          signal: o?.signal,
          name: channel,
          run: this.#tailKey('tail', key, channel, after, deliver, o),
        }
      },
    )
  }

  tailEvents(handle: (d: Delivery) => void | Promise<void>, o: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#loop(
      'tailEvents',
      () => ({ channel: 'events' }),
      () => ({
        signal: o?.signal,
        run: this.#tailKey('tailEvents', this.#mainKey, undefined, '$', handle, o),
      }),
    )
  }

  #tailKey(
    op: string,
    key: string,
    name: string | undefined,
    after: string,
    deliver: (d: Delivery) => void | Promise<void>,
    o: { signal?: AbortSignal },
  ): (signal: AbortSignal) => LoopRun {
    assertFunction(deliver, 'the callback', `streams.${op}`)
    assertCallOptions(o, `streams.${op}`, ['signal'])
    assertSignal(o?.signal, `streams.${op}`)
    const tail = async (signal: AbortSignal) => {
      const entries = readEntries({
        backend: this.#backend,
        key,
        name,
        after,
        signal,
        op: `streams.${op}`,
        onError: (error) => this.#onError(error, `streams.${op}`),
      })
      for await (const delivery of entries) {
        // A callback that awaits fleet.close() ends its loop: that close does not wait for it.
        if ((await this.#ctx.lifecycle.awaitUserCode(() => deliver(delivery))) === DETACHED) return
      }
    }
    return (signal) => ({ done: tail(signal) })
  }

  async #ensureGroup(group: string): Promise<void> {
    assertName(group, 'group', 'streams.ensureGroup')
    await this.#run('ensureGroup', group, () => this.#backend.createGroup(this.#mainKey, group))
  }

  consume(
    group: string,
    consumer: string,
    handle: (d: Delivery) => Promise<void> | void,
    o: ConsumeOptions = {},
  ): Promise<void> {
    return this.#loop(
      'consume',
      () => ({ channel: 'events', group, consumer }),
      () => {
        const op = 'streams.consume'
        assertName(group, 'group', op)
        assertName(consumer, 'consumer', op)
        assertFunction(handle, 'handle', op)
        assertCallOptions(o, op, CONSUME_OPTIONS)
        assertSignal(o?.signal, op)
        const deadLetter = o.deadLetter ?? `${group}:dead`
        const deadKey = this.#channelKey('streams.consume', deadLetter, 'deadLetter')
        const settings = {
          backend: this.#backend,
          key: this.#mainKey,
          group,
          consumer,
          // A handler that awaits fleet.close() is not waited for by that close (lifecycle.ts).
          handle,
          runUserCode: <T>(code: () => T, detached: () => void) =>
            this.#ctx.lifecycle.runUserCode(code, detached),
          batch: countArgument(o.batch, 'batch', op, 64),
          minIdle: countArgument(o.minIdle, 'minIdle', op, 30_000),
          maxDeliveries: countArgument(o.maxDeliveries, 'maxDeliveries', op, 10),
          concurrency: countArgument(o.concurrency, 'concurrency', op, 1),
          deadLetter: (record: DeadLetterRecord, lookFirst: boolean) =>
            this.#deadLetter(deadKey, deadLetter, record, lookFirst),
          onError: (error: unknown) => this.#onError(error, op),
          trace: { namespace: this.#ctx.keys.namespace, topology: this.#ctx.topology },
        }
        const run = (signal: AbortSignal): LoopRun => {
          const loop = new ConsumerLoop({ ...settings, signal })
          return { done: loop.run(), cutOff: () => loop.cutOff() }
        }
        return { signal: o.signal, name: group, run }
      },
    )
  }

  /**
   * Appends the dead letter of one entry to `channel`, carrying an id made of its group and entry
   * id (publish-ids.ts). When another consumer may have written it already (`lookFirst`: see
   * ConsumerSettings.deadLetter), it is written as a resend, which looks for that id among the
   * channel's latest entries first (a script that reads up to RESEND_WINDOW of them, so only
   * then); otherwise it is a plain XADD. A failure names the channel.
   */
  async #deadLetter(
    key: string,
    channel: string,
    record: DeadLetterRecord,
    lookFirst: boolean,
  ): Promise<void> {
    const op = 'streams.consume'
    const once = deadLetterId(record.group, record.id)
    const fields = withPublishId(encodeEnvelope(record, op, channel)[1]!, once)
    const write = { key, fields, maxLen: this.#channelMaxLen, approximate: true, once }
    try {
      await this.#backend.append([write], undefined, lookFirst)
    } catch (error) {
      throw translateError(error, `${op} deadLetter`, channel)
    }
  }

  async #groupLag(group: string): Promise<number> {
    assertName(group, 'group', 'streams.groupLag')
    return this.#run('groupLag', group, () => this.#backend.lag(this.#mainKey, group))
  }

  /**
   * Starts a long-running loop, traced from its start until it stops (SPEC §11): `prepare` validates the arguments (TypeError) and builds the
   * body; the caller's signal is linked with the fleet's, so fleet.close() stops the loop too,
   * and the loop is registered so that close waits (a little) for it to drain.
   */
  #loop(op: string, subject: () => Subject, prepare: () => LoopBody): Promise<void> {
    return this.#tracer.run(op, subject, () => this.#start(op, prepare))
  }

  async #start(op: string, prepare: () => LoopBody): Promise<void> {
    this.#ctx.lifecycle.assertOpen(`streams.${op}`)
    const { signal, name, run } = prepare()
    const linked = linkSignals(signal, this.#ctx.lifecycle.signal)
    const { done, cutOff } = run(linked.signal)
    const running = done.finally(linked.unlink)
    let abandon!: () => void
    const abandoned = new Promise<void>((resolve) => {
      abandon = resolve
    })
    const what = name === undefined ? `streams.${op}` : `streams.${op} '${name}'`
    const loop: RunningLoop = { op, what, running, cutOff, abandon }
    this.#loops.add(loop)
    this.#unregister ??= this.#ctx.lifecycle.onClose(() => this.#drain())
    const forget = () => {
      this.#loops.delete(loop)
      if (this.#loops.size === 0) {
        this.#unregister?.()
        this.#unregister = undefined
      }
    }
    running.then(forget, forget)
    // A handler that never settles keeps `running` pending for good: close() ends the caller's
    // loop instead once it stops waiting for it (#drain).
    return Promise.race([running, abandoned])
  }

  /**
   * On fleet close: give running loops what is left of the fleet's grace (Lifecycle.graceLeft:
   * one for every primitive, not one each) to finish their handlers and acks. Those
   * still running then are abandoned, after their last steps (a consumer's acks and the entries
   * it never started, see ConsumerLoop.cutOff), before their connections close: as SPEC §5 has
   * loops end when the fleet closes, each caller's promise resolves, and a ClosedError naming
   * the loop goes to onError, since its handler was cut off rather than finished. (A rejection
   * would crash the usual `await fleet.close(); await consuming` as an unhandled one.)
   */
  async #drain(): Promise<void> {
    const running = Promise.allSettled([...this.#loops].map((loop) => loop.running))
    if (!(await settledWithin(running, this.#ctx.lifecycle.graceLeft()))) await this.#abandonAll()
  }

  async #abandonAll(): Promise<void> {
    await Promise.all([...this.#loops].map((loop) => this.#abandon(loop)))
  }

  async #abandon(loop: RunningLoop): Promise<void> {
    // Its failures go to onError; a Redis that does not answer (frozen, commandTimeout 0) must
    // not hold close past LAST_STEPS_LIMIT.
    if (loop.cutOff) await settledWithin(loop.cutOff(), LAST_STEPS_LIMIT)
    // Only a consumer has entries to hand back and acks to send; a tail reads past its entries.
    const entries = loop.cutOff
      ? ' (the entry of the handler still running is redelivered; finished ones were acked)'
      : ''
    const error = new ClosedError(
      `${loop.what}: the fleet closed and the loop's handler did not settle within ` +
        `${closeGrace.ms} ms; close() stopped waiting and ended the loop${entries}`,
      // The handler may still be running.
      { outcome: 'unknown' },
    )
    // A throwing error sink must not keep the other loops from ending.
    safely((e) => this.#onError(e, `streams.${loop.op}`), error)
    loop.abandon()
  }
}

/**
 * How long close() gives an abandoned loop's last steps (ConsumerLoop.cutOff: one release and
 * one XACK, sent together) once its grace is over: they are not waited for past it.
 */
export const LAST_STEPS_LIMIT = 1000

/** A loop started by #start: its body, and how close() ends the caller's promise without it. */
interface RunningLoop {
  op: string
  /** The loop as its errors name it: `streams.consume 'group'`, `streams.tail 'channel'`. */
  what: string
  running: Promise<void>
  /** The loop's last steps, taken for it when close() stops waiting for it. */
  cutOff: (() => Promise<void>) | undefined
  /** Resolves the caller's promise though `running` has not settled. */
  abandon(): void
}

interface LoopBody {
  signal: AbortSignal | undefined
  /** The group or channel the loop's errors name (none for tailEvents). */
  name?: string
  run: (signal: AbortSignal) => LoopRun
}

/** A loop as started: its body, and the last steps close() takes for it if it stops waiting. */
interface LoopRun {
  done: Promise<void>
  cutOff?: () => Promise<void>
}

export function createStreams(ctx: FleetContext, options: StreamsOptions = {}): Streams {
  checkOptions(options, STREAMS_OPTIONS, { what: 'streams options' })
  return new FleetStreams(ctx, options)
}

/** The options of `consume` (SPEC §5). */
const CONSUME_OPTIONS = ['signal', 'batch', 'minIdle', 'maxDeliveries', 'deadLetter', 'concurrency'] as const
