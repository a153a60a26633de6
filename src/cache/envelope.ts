import { invalidArgument, isWellFormed, LONE_SURROGATE_TEXT } from '../validate.ts'
import { type Entry, encodeEntry, type TagStamp, TEXT_MARKER } from './entry.ts'
import { assertRawUntagged, type WriteSettings } from './options.ts'
import { shortName } from './scope.ts'
import { encodeTagged, plainJsonText } from './values.ts'

/** A value ready to be put in an envelope: serialised once, before anything touches Redis. */
export interface Prepared {
  raw: boolean
  text: string
  typed: boolean
}

/** What one write sends: the stored text and the Redis TTL (ms, or none). */
export interface Sealed {
  bytes: string
  ttl: number | undefined
}

/**
 * Serialises a value for a write, or throws TypeError/SerializationError (programming errors,
 * never absorbed by the failsafe) before anything is sent.
 */
export function prepareValue(op: string, name: string, value: unknown, settings: WriteSettings): Prepared {
  if (value === undefined) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op} '${shortName(name)}': undefined cannot be cached (use null, or delete)`,
    )
  }
  if (settings.raw) {
    assertRawUntagged(settings, op)
    const text = rawString(op, name, value)
    if (!isWellFormed(text)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op} '${shortName(name)}': a raw value ${LONE_SURROGATE_TEXT}`,
      )
    }
    // Such a string would read back as an envelope: refused, so reads are never ambiguous.
    if (text.startsWith(TEXT_MARKER)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op} '${shortName(name)}': a raw value may not start with "\\0rf"`,
      )
    }
    return { raw: true, text, typed: false }
  }
  // Plain data first: the careful path's description of the call, for its errors, is not built.
  const plain = plainJsonText(value)
  if (plain !== undefined) return { raw: false, text: plain, typed: false }
  const { json, typed } = encodeTagged(value, `cache.${op} '${shortName(name)}'`)
  return { raw: false, text: json, typed }
}

/**
 * The envelope and Redis TTL of one write at `now`; undefined if its expiry is already past
 * (such a write stores nothing).
 */
export function sealEntry(
  prepared: Prepared,
  settings: WriteSettings,
  version: string | undefined,
  stamps: TagStamp[] | undefined,
  now: number,
  op: string,
): Sealed | undefined {
  const { expiresAt, ttl, expired } = settings.expiry(now, op)
  if (expired) return undefined
  const entry: Entry = {
    raw: prepared.raw,
    text: prepared.text,
    typed: prepared.typed,
    expiresAt,
    version,
    tags: stamps,
  }
  return {
    bytes: encodeEntry(entry, { compress: settings.compress, threshold: settings.compressThreshold }),
    ttl,
  }
}

function rawString(op: string, name: string, value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value)
    default:
      if (value === null) return ''
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op} '${shortName(name)}': raw values must be strings, numbers, booleans or null, got ${typeof value}`,
      )
  }
}
