import { CommandError, translateError } from '../errors.ts'
import type { PipelineReplies } from '../transport/types.ts'

/**
 * Redis map replies (XINFO ...) as ioredis hands them over: a flat [name, value, ...] array
 * (RESP2, and RESP3 maps flattened), or a Map/object from clients that keep maps. One reader
 * for all of them keeps the gatherers independent of the protocol version.
 */
export function fieldsOf(reply: unknown): Map<string, unknown> {
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [String(k), v]))
  const fields = new Map<string, unknown>()
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1])
  } else if (typeof reply === 'object' && reply !== null) {
    for (const [k, v] of Object.entries(reply)) fields.set(k, v)
  }
  return fields
}

/** A numeric field, or null when missing, nil or not a number. */
export function numberField(fields: Map<string, unknown>, name: string): number | null {
  const value = fields.get(name)
  if (value === null || value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

/**
 * The replies of a pipeline of `count` commands, in order. Its `exec` resolves even when commands
 * fail (each failure is an `[error, undefined]` entry): the first failure is thrown here, named
 * as `redfleet status` names it (`membership.live failed: WRONGTYPE …`), rather than leaving an
 * undefined reply to break whatever reads it.
 */
export function pipelineReplies(replies: PipelineReplies | null, op: string, count: number): unknown[] {
  if (replies === null || replies.length !== count) {
    throw new CommandError(`${op} failed: ${count} replies expected, got ${replies?.length ?? 'none'}`)
  }
  return replies.map(([error, reply]) => {
    if (error) throw translateError(error, op)
    return reply
  })
}
