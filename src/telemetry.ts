import { AsyncLocalStorage } from 'node:async_hooks'
import diagnosticsChannel, { type TracingChannel } from 'node:diagnostics_channel'
import { toldFailure } from './retry.ts'

/**
 * What every operation's TracingChannel carries (SPEC §11): where it ran and on what, never a
 * value. The channel adds `result` (what the call resolves with) or `error` to it on `asyncEnd` /
 * `error`.
 */
export interface OperationContext {
  namespace: string
  topology: string
  key?: string
  [field: string]: unknown
}

/** Where a primitive's operations run: the context fields every trace of it starts with. */
export interface TraceScope {
  readonly namespace: string
  readonly topology: string
  /** The fleet's lifecycle: a call on a closed fleet is told as failures are (tracedOn). */
  readonly lifecycle?: { readonly closed: boolean }
}

/**
 * What one call is on: `key`, `keys`, `channel`, `group`, ... (names only, never a value). A
 * subject function returns a new object on every call.
 */
export type Subject = Omit<OperationContext, 'namespace' | 'topology'>

const channels = new Map<string, TracingChannel<unknown, OperationContext>>()

/** Set while redfleet reads a fleet for an operator (`untraced`). */
const operatorReads = new AsyncLocalStorage<true>()

/**
 * Runs `fn`, and every call it makes, untraced: what redfleet reads on its own to report on a
 * fleet (`redfleet status`, the dashboard, the OpenTelemetry gauges) is not the application's
 * work, and must not show up as its operations in traces and operation metrics.
 */
export function untraced<T>(fn: () => Promise<T>): Promise<T> {
  return operatorReads.run(true, fn)
}

/** Someone listens to `channel`, and the call is the application's (not within `untraced`). */
export function isTraced(channel: { readonly hasSubscribers: boolean }): boolean {
  return channel.hasSubscribers && operatorReads.getStore() === undefined
}

/** The TracingChannel `redfleet:<primitive>:<method>` of an operation named `primitive.method`. */
export function operationChannel(op: string): TracingChannel<unknown, OperationContext> {
  let channel = channels.get(op)
  if (!channel) {
    const dot = op.indexOf('.')
    const name = dot === -1 ? `redfleet:${op}` : `redfleet:${op.slice(0, dot)}:${op.slice(dot + 1)}`
    channel = diagnosticsChannel.tracingChannel(name)
    channels.set(op, channel)
  }
  return channel
}

/**
 * Runs one call of `op` traced on its channel (start, end, then asyncEnd with `result`, or error),
 * the one way every public operation is traced. With nobody listening it is `fn()`: the subject
 * is not even built.
 */
export function traced<T>(
  op: string,
  scope: TraceScope,
  subject: () => Subject,
  fn: () => Promise<T>,
): Promise<T> {
  return tracedOn(operationChannel(op), scope, subject, fn)
}

function tracedOn<T>(
  channel: TracingChannel<unknown, OperationContext>,
  scope: TraceScope,
  subject: () => Subject,
  fn: () => Promise<T>,
): Promise<T> {
  // Refused without I/O, a call on a closed fleet rejects at once: a loop calling again at once
  // (a consumer restarting consume) would spin for ever without letting a timer run.
  if (scope.lifecycle?.closed === true) return traceOn(channel, scope, subject, fn).catch(toldFailure)
  return traceOn(channel, scope, subject, fn)
}

function traceOn<T>(
  channel: TracingChannel<unknown, OperationContext>,
  scope: TraceScope,
  subject: () => Subject,
  fn: () => Promise<T>,
): Promise<T> {
  if (!isTraced(channel)) return fn()
  // `subject` makes a fresh object on each call: it becomes the context (cheaper than a spread).
  const context = subject() as OperationContext
  context.namespace = scope.namespace
  context.topology = scope.topology
  return channel.tracePromise(fn, context)
}

/**
 * The traced calls of one primitive of one fleet: `run('get', ...)` traces as `traced` does on
 * `redfleet:<primitive>:get`, with the fleet's scope; each method's channel is looked up once,
 * not named again on every call.
 */
export class PrimitiveTracer {
  readonly #primitive: string
  readonly #scope: TraceScope
  readonly #channels = new Map<string, TracingChannel<unknown, OperationContext>>()

  constructor(primitive: string, scope: TraceScope) {
    this.#primitive = primitive
    this.#scope = scope
  }

  run<T>(method: string, subject: () => Subject, fn: () => Promise<T>): Promise<T> {
    let channel = this.#channels.get(method)
    if (channel === undefined) {
      channel = operationChannel(`${this.#primitive}.${method}`)
      this.#channels.set(method, channel)
    }
    return tracedOn(channel, this.#scope, subject, fn)
  }
}

/**
 * A trace opened by `openTrace`, for a call that does not end with a promise it returns (a
 * subscription that lasts until unsubscribed, an inbox read until its iteration ends, a cache
 * call that notes its hits as it goes): closed once, by `end` or `fail`.
 */
export class OpenTrace {
  readonly #channel: TracingChannel<unknown, OperationContext>
  readonly context: OperationContext & { result?: unknown; error?: unknown }
  #open = true

  constructor(channel: TracingChannel<unknown, OperationContext>, context: OperationContext) {
    this.#channel = channel
    this.context = context
  }

  /** Adds what the call learnt on its way (a normalised key, hits); names only. */
  note(fields: Subject): void {
    Object.assign(this.context, fields)
  }

  /** Publishes `end`: control is back with the call's caller (the call goes on). */
  returned(): void {
    this.#channel.end.publish(this.context)
  }

  end(result?: unknown): void {
    if (!this.#open) return
    this.#open = false
    if (result !== undefined) this.context.result = result
    this.#channel.asyncStart.publish(this.context)
    this.#channel.asyncEnd.publish(this.context)
  }

  fail(error: unknown): void {
    if (!this.#open) return
    this.#open = false
    this.context.error = error
    this.#channel.error.publish(this.context)
    this.#channel.asyncStart.publish(this.context)
    this.#channel.asyncEnd.publish(this.context)
  }
}

/**
 * Starts tracing a call of `op` (start, and end: control is back with the caller) and returns its
 * trace to close later; undefined, with nothing built, when nobody listens.
 */
export function openTrace(op: string, scope: TraceScope, subject?: () => Subject): OpenTrace | undefined {
  const trace = startTrace(op, scope, subject)
  trace?.returned()
  return trace
}

/** `openTrace` without its `end`, which its caller publishes (`returned`) once control is back. */
function startTrace(op: string, scope: TraceScope, subject?: () => Subject): OpenTrace | undefined {
  const channel = operationChannel(op)
  if (!isTraced(channel)) return undefined
  const context: OperationContext = { namespace: scope.namespace, topology: scope.topology }
  if (subject) Object.assign(context, subject())
  channel.start.publish(context)
  return new OpenTrace(channel, context)
}

/**
 * Runs `fn` under an open trace of `op` (see `openTrace`), which `fn` may `note` on; the trace ends
 * with what `fn` resolves, or fails with what it throws. With nobody listening it is `fn(undefined)`.
 */
export function tracedWith<T>(
  op: string,
  scope: TraceScope,
  fn: (trace: OpenTrace | undefined) => Promise<T>,
): Promise<T> {
  const trace = startTrace(op, scope)
  if (trace === undefined) return fn(undefined)
  let running: Promise<T>
  try {
    running = fn(trace)
  } catch (error) {
    trace.returned()
    trace.fail(error)
    throw error
  }
  // After what `fn` noted before its first await (a cache call's normalised key), as a
  // TracingChannel's own tracePromise publishes it.
  trace.returned()
  return running.then(
    (result) => {
      trace.end(result)
      return result
    },
    (error: unknown) => {
      trace.fail(error)
      throw error
    },
  )
}
