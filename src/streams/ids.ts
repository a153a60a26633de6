import { describeValue, invalidArgument } from '../validate.ts'
/**
 * Stream entry ids: `${ms}-${seq}`, as Redis makes them. Sequences stay far below 2^53 in
 * practice (a million entries in one millisecond would still fit), so plain numbers compare them.
 */

/** The id before every entry: `XREAD ... 0-0` returns the whole stream. */
export const START_ID = '0-0'

const ID_PATTERN = /^(\d+)(?:-(\d+))?$/

/** Parses `ms-seq` (or a bare `ms`, which Redis reads as `ms-0`); undefined when not an id. */
export function parseId(id: string): [number, number] | undefined {
  const match = ID_PATTERN.exec(id)
  if (!match) return undefined
  return [Number(match[1]), Number(match[2] ?? 0)]
}

/**
 * An id as Redis reads it, `ms-seq` (a bare `ms` is `ms-0`): the form entries' ids are compared
 * in. Undefined when it is not an id.
 */
export function canonicalId(id: string): string | undefined {
  const parsed = parseId(id)
  return parsed && `${parsed[0]}-${parsed[1]}`
}

/** Negative, zero or positive as `a` is before, equal to or after `b`. Both must be valid ids. */
export function compareIds(a: string, b: string): number {
  const [am, as] = parseId(a)!
  const [bm, bs] = parseId(b)!
  return am === bm ? as - bs : am - bm
}

/**
 * A caller's "after this id" position: '0', '' and undefined mean the start of the stream.
 * Anything else must look like a stream id whose parts are at most 2^53 - 1 (every id Redis
 * makes for a publish is; a larger part would be rounded here, or is past what Redis takes);
 * a bad one is a TypeError (a programming error).
 */
export function afterIdArg(op: string, id: unknown): string {
  if (id === undefined || id === '' || id === '0') return START_ID
  const parsed = typeof id === 'string' ? parseId(id) : undefined
  if (parsed === undefined || !parsed.every(Number.isSafeInteger)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: id must be a stream id like '1700000000000-0' (each part at most 2^53 - 1), got ${describeValue(id)}`,
    )
  }
  return `${parsed[0]}-${parsed[1]}`
}
