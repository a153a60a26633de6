import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { SerializationError } from '../errors.ts'
import { type Copier, copierOf } from './clone.ts'
import { reviveValue } from './values.ts'

/**
 * The stored form of a cache entry: self-describing, compact, and always valid UTF-8 text, so
 * that replies travel as plain strings (what ioredis reads and writes fastest; a Buffer per
 * reply costs a read of many keys more in garbage collection than anything else it does):
 *
 *   "\0rf"          format marker (3 bytes; the cache refuses raw writes that start with it)
 *   1 char          '@' + flags: 1 compressed, 2 has expiresAt, 4 has version, 8 typed JSON,
 *                   16 has tags
 *   base36 '.'      expiresAt, epoch ms                                      (if flag 2)
 *   base36 ':' s    version: its UTF-8 byte length, then the version          (if flag 4)
 *   base36 ':' then per tag: byte length ':' name, version base36 '.'       (if flag 16)
 *   rest            the value as JSON; if compressed, its raw deflate in base64
 *
 * Compression is kept only when the base64 of the deflated JSON is shorter than the JSON.
 * Anything else is a plain string (a counter, `raw: true`, redis-cli or another client) and is
 * read back as that string. The expiry lives inside the entry because it must be exact (a read at
 * or after expiresAt never returns it) while Redis' own TTL is only a memory bound, padded for
 * raceConditionTtl.
 */
export const TEXT_MARKER = '\u0000rf'

const COMPRESSED = 1
const EXPIRES = 2
const VERSIONED = 4
const TYPED = 8
const TAGGED = 16

/** The version of one tag when the entry was written; a different current version is a miss. */
export interface TagStamp {
  name: string
  version: number
}

/** A decoded entry: metadata plus the value's JSON text, parsed only when the value is used. */
export interface Entry {
  /** A plain string with no envelope (counters, `raw: true`, other clients). */
  raw: boolean
  /** JSON text of the value, or the plain string of a raw entry. */
  text: string
  /** The JSON text holds type tags (see values.ts). */
  typed: boolean
  expiresAt: number | undefined
  version: string | undefined
  tags: TagStamp[] | undefined
  /**
   * Set on entries the near cache keeps: the parsed value, never handed out itself. Each hit
   * gets a copy of it, which is several times cheaper than parsing the text again.
   */
  tree?: unknown
  /** Copies `tree` (clone.ts): set with it. */
  copy?: Copier
  /**
   * The value, parsed (and revived) when the entry was checked (`checkValue`), for the entry's
   * first use: handed out once, so that no two callers get the same object.
   */
  parsed?: { value: unknown }
}

export interface Compression {
  compress: boolean
  threshold: number
}

/** The value an entry stands for; a fresh object on every call, so callers never share one. */
export function entryValue(entry: Entry): unknown {
  if (entry.raw) return entry.text
  if (entry.copy !== undefined) return entry.copy(entry.tree)
  const parsed = entry.parsed
  if (parsed !== undefined) {
    entry.parsed = undefined
    return parsed.value
  }
  return parseValue(entry)
}

/**
 * Parses an entry's value before it is used, so that a damaged one (JSON cut short, an unknown
 * type tag) is found where the entry is read, as a corrupt header is: a miss of that key, never
 * a failure of a call that would have used it later. Throws SerializationError.
 */
export function checkValue(entry: Entry): void {
  if (!entry.raw && entry.copy === undefined) entry.parsed = { value: parseValue(entry) }
}

function parseValue(entry: Entry): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(entry.text)
  } catch (error) {
    throw new SerializationError('stored cache entry holds no valid JSON', { cause: error, stored: true })
  }
  try {
    return entry.typed ? reviveValue(parsed) : parsed
  } catch (error) {
    throw new SerializationError(`stored cache entry is corrupt (${(error as Error).message})`, {
      cause: error,
      stored: true,
    })
  }
}

/** Marks an entry as kept (near cache): its value is parsed once and copied on every use. */
export function keepParsed(entry: Entry): void {
  if (entry.raw || entry.typed || entry.tree !== undefined) return
  const parsed = entry.parsed
  entry.parsed = undefined
  try {
    const tree: unknown = parsed === undefined ? JSON.parse(entry.text) : parsed.value
    entry.copy = copierOf(tree)
    entry.tree = tree
  } catch {
    // Left to entryValue, which reports it.
  }
}

export function isExpired(entry: Entry, now: number): boolean {
  return entry.expiresAt !== undefined && entry.expiresAt <= now
}

/** Rails' `mismatched?`: only two versions that are both present and differ are a mismatch. */
export function isMismatched(entry: Entry, version: string | undefined): boolean {
  return entry.version !== undefined && version !== undefined && entry.version !== version
}

export function encodeEntry(entry: Entry, compression: Compression): string {
  if (entry.raw) return entry.text
  let flags = entry.typed ? TYPED : 0
  let body = entry.text
  if (compression.compress && body.length > 0) {
    const textBytes = Buffer.byteLength(body)
    if (textBytes >= compression.threshold) {
      // Kept only when it saves space: incompressible data is stored as it came.
      const deflated = deflateRawSync(body).toString('base64')
      if (deflated.length < textBytes) {
        flags |= COMPRESSED
        body = deflated
      }
    }
  }
  let head = ''
  if (entry.expiresAt !== undefined) {
    flags |= EXPIRES
    head += `${Math.max(0, Math.ceil(entry.expiresAt)).toString(36)}.`
  }
  if (entry.version !== undefined) {
    flags |= VERSIONED
    head += `${Buffer.byteLength(entry.version).toString(36)}:${entry.version}`
  }
  if (entry.tags !== undefined && entry.tags.length > 0) {
    flags |= TAGGED
    head += `${entry.tags.length.toString(36)}:`
    for (const tag of entry.tags) {
      head += `${Buffer.byteLength(tag.name).toString(36)}:${tag.name}${tag.version.toString(36)}.`
    }
  }
  return TEXT_MARKER + String.fromCharCode(FLAG_BASE + flags) + head + body
}

/** Flags are one printable character: '@' plus the flag bits (below 32). */
const FLAG_BASE = 0x40
/** Where the header fields start: after the marker and the flags. */
const HEADER_START = TEXT_MARKER.length + 1

/** Decodes what a GET returned; a plain string becomes a raw entry. Corrupt envelopes throw. */
export function decodeEntry(stored: string): Entry {
  if (!stored.startsWith(TEXT_MARKER)) return rawEntry(stored)
  try {
    const flags = stored.charCodeAt(TEXT_MARKER.length) - FLAG_BASE
    if (!(flags >= 0 && flags < 32)) throw new RangeError('bad flags')
    // The common entry, no header fields: no cursor to allocate.
    if ((flags & (EXPIRES | VERSIONED | TAGGED)) === 0) return entryOf(stored, flags, HEADER_START)
    const cursor = { at: HEADER_START }
    const expiresAt = flags & EXPIRES ? readNumber(stored, cursor, DOT) : undefined
    const version = flags & VERSIONED ? readString(stored, cursor) : undefined
    let tags: TagStamp[] | undefined
    if (flags & TAGGED) {
      const count = readNumber(stored, cursor, COLON)
      tags = []
      for (let i = 0; i < count; i++) {
        const name = readString(stored, cursor)
        tags.push({ name, version: readNumber(stored, cursor, DOT) })
      }
    }
    return entryOf(stored, flags, cursor.at, expiresAt, version, tags)
  } catch (error) {
    throw new SerializationError(`stored cache entry is corrupt (${(error as Error).message})`, {
      cause: error,
      stored: true,
    })
  }
}

function entryOf(
  stored: string,
  flags: number,
  bodyAt: number,
  expiresAt?: number,
  version?: string,
  tags?: TagStamp[],
): Entry {
  const body = stored.slice(bodyAt)
  const text = flags & COMPRESSED ? inflateRawSync(Buffer.from(body, 'base64')).toString('utf8') : body
  // Every field set, the optional ones too: entries then share one shape from the start, not one
  // more each time a read or the near cache sets `parsed` or `tree` (a read's hot path).
  return {
    raw: false,
    text,
    typed: (flags & TYPED) !== 0,
    expiresAt,
    version,
    tags,
    tree: undefined,
    copy: undefined,
    parsed: undefined,
  }
}

function rawEntry(text: string): Entry {
  return { raw: true, text, typed: false, expiresAt: undefined, version: undefined, tags: undefined }
}

const DOT = 0x2e
const COLON = 0x3a

// Module-level readers rather than closures: decoding is on every read's path. Their RangeErrors
// never reach a caller: decodeEntry turns them into the SerializationError that says the entry is corrupt.
function readNumber(stored: string, cursor: { at: number }, stop: number): number {
  let value = 0
  let digits = 0
  for (;;) {
    const c = stored.charCodeAt(cursor.at++)
    if (Number.isNaN(c)) throw new RangeError('truncated header')
    if (c === stop) break
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x57 : -1
    if (digit < 0) throw new RangeError('bad number')
    value = value * 36 + digit
    digits++
  }
  if (digits === 0) throw new RangeError('bad number')
  return value
}

/** A length-prefixed string; the length counts UTF-8 bytes, so other languages can read it. */
function readString(stored: string, cursor: { at: number }): string {
  const bytes = readNumber(stored, cursor, COLON)
  const start = cursor.at
  let counted = 0
  while (counted < bytes) {
    const c = stored.charCodeAt(cursor.at)
    if (Number.isNaN(c)) throw new RangeError('truncated header')
    // A surrogate pair is one 4-byte character.
    const pair = c >= 0xd800 && c <= 0xdbff
    counted += c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3
    cursor.at += pair ? 2 : 1
  }
  if (counted !== bytes) throw new RangeError('bad length')
  return stored.slice(start, cursor.at)
}

/** True if a stored value is a compressed envelope (for tests and diagnostics). */
export function isCompressed(stored: Buffer | string): boolean {
  const text = stored.toString()
  return (
    text.startsWith(TEXT_MARKER) && ((text.charCodeAt(TEXT_MARKER.length) - FLAG_BASE) & COMPRESSED) !== 0
  )
}
