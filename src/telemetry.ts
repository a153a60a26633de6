import diagnosticsChannel, { type TracingChannel } from 'node:diagnostics_channel'

/**
 * What every operation's TracingChannel carries (SPEC §11): where it ran and on what, never a
 * value. The channel adds `result` or `error` to it on `asyncEnd` / `error`.
 */
export interface OperationContext {
  namespace: string
  topology: string
  key?: string
  [field: string]: unknown
}

const channels = new Map<string, TracingChannel<unknown, OperationContext>>()

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
