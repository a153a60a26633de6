/// <reference types="node" preserve="true" />
// Kept in the published .d.ts, which use Node's types: TypeScript 7 loads no @types by itself.
/**
 * `redfleet/otel`: OpenTelemetry for a fleet (SPEC §11). Every operation is already traced on a
 * `node:diagnostics_channel` TracingChannel (`redfleet:<primitive>:<method>`, src/telemetry.ts);
 * `instrument()` subscribes to all of them and turns each call into a span and a duration
 * measurement, and, given a fleet, reports its fleet-wide gauges (lag, pending, dead letters,
 * in-flight jobs, orphans, live members) from a snapshot taken when the meter collects.
 *
 * `@opentelemetry/api` is an optional peer dependency: only this module imports it.
 */
import { performance } from 'node:perf_hooks'
import {
  type Attributes,
  type Meter,
  type MeterProvider,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import { type Fleet, fleetContext, isFleet } from './fleet.ts'
import { type FleetStatus, inspectFleet } from './inspect.ts'
import { OPERATIONS } from './operations.ts'
import { onAbort } from './signals.ts'
import { type OperationContext, operationChannel } from './telemetry.ts'
import {
  checkOptions,
  describeValue,
  invalidArgument,
  invalidOption,
  isPlainObject,
  type OptionCheck,
  type OptionSchema,
} from './validate.ts'

export interface InstrumentOptions {
  /** Default: the globally registered provider. */
  tracerProvider?: TracerProvider
  /** Default: the globally registered provider. */
  meterProvider?: MeterProvider
}

export interface Instrumentation {
  /** Stops turning operations into spans and metrics and stops the gauges. */
  disable(): void
}

/** A traced call's context, as its channel hands it over (with `result` or `error` at the end). */
interface Traced extends OperationContext {
  result?: unknown
  error?: unknown
}

/**
 * The spans one `instrument()` has open, by call context: its own map, so that two
 * instrumentations (two fleets, two providers) never end each other's spans.
 */
type OpenSpans = WeakMap<object, { span: Span; started: number }>

/** The semantic-convention attributes of one traced call (no values, ever). */
function spanAttributes(primitive: string, method: string, ctx: Traced): Attributes {
  const attributes: Attributes = {
    'db.system.name': 'redis',
    'db.operation.name': `${primitive}.${method}`,
    'db.namespace': ctx.namespace,
    'redfleet.topology': ctx.topology,
  }
  if (typeof ctx.key === 'string') attributes['redfleet.key'] = ctx.key
  if (typeof ctx.member === 'string') attributes['redfleet.member'] = ctx.member
  if (primitive === 'streams' || primitive === 'broker' || primitive === 'presence') {
    attributes['messaging.system'] = 'redis'
    attributes['messaging.operation.name'] = method
    if (typeof ctx.channel === 'string') attributes['messaging.destination.name'] = ctx.channel
    if (typeof ctx.group === 'string') attributes['messaging.consumer.group.name'] = ctx.group
    if (typeof ctx.id === 'string') attributes['messaging.message.id'] = ctx.id
  }
  return attributes
}

function spanKind(primitive: string, method: string): SpanKind {
  if (primitive === 'streams' || primitive === 'broker' || primitive === 'presence') {
    if (method.startsWith('publish')) return SpanKind.PRODUCER
    if (method === 'consume' || method.startsWith('tail') || method === 'subscribe') return SpanKind.CONSUMER
  }
  return SpanKind.CLIENT
}

/**
 * `redfleet.cache.requests` results a cache read reports when it ends (src/cache/instrument.ts):
 * `hit` (and `near`) for one key, `hits` among `keys` for several, `nearHits` of them near: a
 * hit the near cache answered is counted as `near`, never also as `hit` (as `stats()` counts).
 */
function cacheResults(ctx: Traced): [result: 'hit' | 'miss' | 'near', count: number][] {
  if (Array.isArray(ctx.hits) && Array.isArray(ctx.keys)) {
    const hits = ctx.hits.length
    const near = typeof ctx.nearHits === 'number' ? Math.min(Math.max(ctx.nearHits, 0), hits) : 0
    return [
      ['hit', hits - near],
      ['near', near],
      ['miss', ctx.keys.length - hits],
    ]
  }
  if (typeof ctx.hit !== 'boolean') return []
  return [[ctx.hit ? (ctx.near === true ? 'near' : 'hit') : 'miss', 1]]
}

/** Subscribes to one operation's TracingChannel; returns the unsubscribe. */
function traceOperation(
  primitive: string,
  method: string,
  tracer: Tracer,
  meter: { duration: ReturnType<Meter['createHistogram']>; cache: ReturnType<Meter['createCounter']> },
  mine: (ctx: OperationContext) => boolean,
): () => void {
  const channel = operationChannel(`${primitive}.${method}`)
  const open: OpenSpans = new WeakMap()
  const finish = (ctx: Traced) => {
    const traced = open.get(ctx)
    if (!traced) return
    open.delete(ctx)
    const failed = ctx.error !== undefined
    // Some operations learn their key only as they go (the cache normalises it): set them again.
    traced.span.setAttributes(spanAttributes(primitive, method, ctx))
    if (failed) {
      traced.span.recordException(ctx.error instanceof Error ? ctx.error : String(ctx.error))
      traced.span.setStatus({ code: SpanStatusCode.ERROR })
    }
    traced.span.end()
    meter.duration.record(performance.now() - traced.started, {
      primitive,
      method,
      outcome: failed ? 'error' : 'ok',
    })
    if (primitive === 'cache' && !failed) {
      for (const [result, count] of cacheResults(ctx)) if (count > 0) meter.cache.add(count, { result })
    }
  }
  const handlers = {
    start(message: unknown) {
      const ctx = message as Traced
      if (!mine(ctx)) return
      const span = tracer.startSpan(`${primitive}.${method}`, {
        kind: spanKind(primitive, method),
        attributes: spanAttributes(primitive, method, ctx),
      })
      open.set(ctx, { span, started: performance.now() })
    },
    // A synchronous throw ends here (error, then end, no asyncEnd); a promise ends at asyncEnd.
    end(message: unknown) {
      const ctx = message as Traced
      if (ctx.error !== undefined) finish(ctx)
    },
    asyncStart() {},
    asyncEnd(message: unknown) {
      finish(message as Traced)
    },
    error() {},
  }
  channel.subscribe(handlers)
  return () => channel.unsubscribe(handlers)
}

/** The fleet-wide gauges, observed from one snapshot per collection. */
function observeGauges(meter: Meter, fleet: Fleet): () => void {
  const gauge = (name: string, description: string) => meter.createObservableGauge(name, { description })
  const lag = gauge('redfleet.stream.lag', 'entries a consumer group has not acked yet (groupLag)')
  const pending = gauge('redfleet.stream.pending', 'entries delivered to a consumer group and not acked')
  const dead = gauge('redfleet.stream.dead_letters', 'entries in a dead-letter channel')
  const inFlight = gauge('redfleet.tracker.in_flight', 'jobs a live tracker instance runs now')
  const orphans = gauge('redfleet.tracker.orphans', 'jobs of tracker instances that are no longer live')
  const live = gauge('redfleet.members.live', 'members whose heartbeat has not expired')
  const callback = async (observer: {
    observe(gauge: ReturnType<Meter['createObservableGauge']>, value: number, attributes?: Attributes): void
  }) => {
    let status: FleetStatus
    try {
      status = await inspectFleet(fleet)
    } catch {
      return // Redis unreachable: no observation rather than stale or made-up figures.
    }
    for (const stream of status.streams) {
      for (const group of stream.groups) {
        observer.observe(lag, group.lag, { stream: stream.name, group: group.name })
        observer.observe(pending, group.pending, { stream: stream.name, group: group.name })
      }
    }
    for (const channel of status.deadLetters) {
      observer.observe(dead, channel.length, { channel: channel.channel })
    }
    // A part that could not be read (a node of a ring down) is not observed, rather than as 0.
    for (const instance of status.tracker?.instances ?? []) {
      observer.observe(inFlight, instance.jobs.length, { instance: instance.id })
    }
    if (status.tracker) observer.observe(orphans, status.tracker.orphans)
    if (status.members) observer.observe(live, status.members.length)
  }
  const observables = [lag, pending, dead, inFlight, orphans, live]
  meter.addBatchObservableCallback(callback, observables)
  return () => meter.removeBatchObservableCallback(callback, observables)
}

/** An OpenTelemetry provider: an object with `method` (getTracer, getMeter). */
function providerOption(method: string): OptionCheck {
  return (value, name) => {
    if (typeof (value as Record<string, unknown> | null)?.[method] !== 'function') {
      throw invalidOption(
        `${name} must be an OpenTelemetry provider (an object with ${method}()), got ${describeValue(value)}`,
      )
    }
  }
}

const INSTRUMENT_OPTIONS: OptionSchema = {
  tracerProvider: providerOption('getTracer'),
  meterProvider: providerOption('getMeter'),
}

/**
 * Turns redfleet's operations into OpenTelemetry spans and metrics. With a fleet, only that
 * fleet's operations (its namespace and the views under it) and its gauges, until the fleet has
 * closed; without one, every fleet's operations in this process. Returns a handle whose
 * `disable()` undoes it.
 */
export function instrument(fleet?: Fleet | null, o: InstrumentOptions = {}): Instrumentation {
  // Checked as a factory checks its options: a wrong one would trace nothing, without a word.
  // null, as undefined: every fleet (a skipped argument, as JavaScript callers often pass it).
  if (fleet != null && !isFleet(fleet)) {
    const hint = isPlainObject(fleet) ? ' (options go second: instrument(fleet, { tracerProvider }))' : ''
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `instrument: the first argument must be a fleet made by createFleet, or nothing; got ${describeValue(fleet)}${hint}`,
    )
  }
  checkOptions(o, INSTRUMENT_OPTIONS, { what: 'instrument options' })
  const tracer = (o.tracerProvider ?? trace.getTracerProvider()).getTracer('redfleet')
  const meter = (o.meterProvider ?? metrics.getMeterProvider()).getMeter('redfleet')
  const instruments = {
    duration: meter.createHistogram('redfleet.operation.duration', {
      description: 'duration of redfleet operations',
      unit: 'ms',
    }),
    cache: meter.createCounter('redfleet.cache.requests', {
      description: 'cache reads by result: hit (Redis), near (in-process near cache) or miss',
    }),
  }
  const namespace = fleet?.namespace
  const mine = (ctx: OperationContext) =>
    namespace === undefined || ctx.namespace === namespace || ctx.namespace.startsWith(`${namespace}:`)
  const undo = Object.entries(OPERATIONS).flatMap(([primitive, methods]) =>
    Object.keys(methods).map((method) => traceOperation(primitive, method, tracer, instruments, mine)),
  )
  const disable = () => {
    for (const stop of undo.splice(0)) stop()
  }
  if (fleet) {
    undo.push(observeGauges(meter, fleet))
    // Once its close has run every cleanup (their last operations traced): a fleet made per test
    // or per reload, instrumented and closed, traced every later fleet of its namespace, and
    // each of them held on to its subscriptions (helper-324: 101 spans per call after 100).
    const { lifecycle } = fleetContext(fleet)
    if (lifecycle.drainedSignal.aborted) disable()
    else undo.push(onAbort(lifecycle.drainedSignal, disable))
  }
  return { disable }
}
