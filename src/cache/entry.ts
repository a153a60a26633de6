import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { SerializationError } from '../errors.ts'
import { reviveValue } from './values.ts'

/**
 * The stored form of a cache entry. Self-describing and compact, in two layouts:
 *
 * Text (uncompressed entries, the common case): valid UTF-8, and ASCII but for the value's own
 * characters, so that it travels as a plain one-byte string (what ioredis writes fastest):
 *   "\0rf"          format marker (3 bytes; the cache refuses raw writes that start with it)
 *   1 char          '@' + flags: 2 has expiresAt, 4 has version, 8 typed JSON, 16 has tags
 *   base36 '.'      expiresAt, epoch ms                                      (if flag 2)
 *   base36 ':' s    version: its UTF-8 byte length, then the version          (if flag 4)
 *   base36 ':' then per tag: byte length ':' name, version base36 '.'       (if flag 16)
 *   rest            the value as JSON
 *
 * Binary (compressed entries):
 *   byte 0     0xF5 format marker. 0xF5 never occurs in UTF-8 text.
 *   byte 1     flags: 1 compressed, and the flags above
 *   6 bytes    expiresAt, epoch ms, unsigned big-endian          (if flag 2)
 *   2+n bytes  version: length, UTF-8                            (if flag 4)
 *   1+… bytes  tags: count, then per tag length(2), name, version(8, float64)  (if flag 16)
 *   rest       the value as JSON, raw deflate
 *
 * Anything else is a plain string (a counter, `raw: true`, redis-cli or another client) and is
 * read back as that string. The expiry lives inside the entry because it must be exact (a read at
 * or after expiresAt never returns it) while Redis' own TTL is only a memory bound, padded for
 * raceConditionTtl.
 */
export const TEXT_MARKER = '\u0000rf'
export const FORMAT_MARKER = 0xf5

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
}

export interface Compression {
  compress: boolean
  threshold: number
}

/** The value an entry stands for; a fresh object on every call, so callers never share one. */
export function entryValue(entry: Entry): unknown {
  if (entry.raw) return entry.text
  if (entry.tree !== undefined) return cloneJson(entry.tree)
  let parsed: unknown
  try {
    parsed = JSON.parse(entry.text)
  } catch (error) {
    throw new SerializationError('stored cache entry holds no valid JSON', { cause: error })
  }
  return entry.typed ? reviveValue(parsed) : parsed
}

/** Marks an entry as kept (near cache): its value is parsed once and copied on every use. */
export function keepParsed(entry: Entry): void {
  if (entry.raw || entry.typed || entry.tree !== undefined) return
  try {
    entry.tree = JSON.parse(entry.text)
  } catch {
    // Left to entryValue, which reports it.
  }
}

/**
 * A deep copy of a parsed JSON tree (plain objects, arrays, primitives only). Spread copies an
 * object's own properties in one step (and defines `__proto__` as an own property, as
 * JSON.parse did, rather than setting the prototype); only nested objects are visited again.
 */
function cloneJson(tree: unknown): unknown {
  if (typeof tree !== 'object' || tree === null) return tree
  if (Array.isArray(tree)) {
    const out = tree.slice()
    for (let i = 0; i < out.length; i++) {
      const item = out[i]
      if (typeof item === 'object' && item !== null) out[i] = cloneJson(item)
    }
    return out
  }
  const out: Record<string, unknown> = { ...tree }
  for (const key in out) {
    const item = out[key]
    // hasOwn: a for-in also lists enumerable properties someone added to Object.prototype.
    if (typeof item === 'object' && item !== null && Object.hasOwn(out, key)) out[key] = cloneJson(item)
  }
  return out
}

export function isExpired(entry: Entry, now: number): boolean {
  return entry.expiresAt !== undefined && entry.expiresAt <= now
}

/** Rails' `mismatched?`: only two versions that are both present and differ are a mismatch. */
export function isMismatched(entry: Entry, version: string | undefined): boolean {
  return entry.version !== undefined && version !== undefined && entry.version !== version
}

export function encodeEntry(entry: Entry, compression: Compression): Buffer | string {
  if (entry.raw) return entry.text
  if (compression.compress && entry.text.length > 0) {
    const textBytes = Buffer.byteLength(entry.text)
    if (textBytes >= compression.threshold) {
      // Kept only when it saves space: incompressible data is stored as it came.
      const deflated = deflateRawSync(entry.text)
      if (deflated.length < textBytes) return encodeBinary(entry, deflated)
    }
  }
  return encodeText(entry)
}

function encodeText(entry: Entry): string {
  let flags = entry.typed ? TYPED : 0
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
  return TEXT_MARKER + String.fromCharCode(FLAG_BASE + flags) + head + entry.text
}

/** Text flags are one printable character: '@' plus the flag bits (below 32). */
const FLAG_BASE = 0x40

function encodeBinary(entry: Entry, payload: Buffer): Buffer {
  let flags = COMPRESSED | (entry.typed ? TYPED : 0)
  const textBytes = payload.length
  let size = 2 + textBytes
  let version: Buffer | undefined
  if (entry.expiresAt !== undefined) {
    flags |= EXPIRES
    size += 6
  }
  if (entry.version !== undefined) {
    version = Buffer.from(entry.version)
    if (version.length > 0xffff) throw new SerializationError('a cache version may be at most 65535 bytes')
    flags |= VERSIONED
    size += 2 + version.length
  }
  let tagNames: Buffer[] | undefined
  if (entry.tags !== undefined && entry.tags.length > 0) {
    if (entry.tags.length > 0xff) throw new SerializationError('an entry may carry at most 255 tags')
    tagNames = entry.tags.map((tag) => Buffer.from(tag.name))
    flags |= TAGGED
    size += 1 + tagNames.reduce((sum, name) => sum + 2 + name.length + 8, 0)
  }
  const out = Buffer.allocUnsafe(size)
  out[0] = FORMAT_MARKER
  out[1] = flags
  let at = 2
  if (entry.expiresAt !== undefined) at = out.writeUIntBE(Math.max(0, Math.ceil(entry.expiresAt)), at, 6)
  if (version) {
    at = out.writeUInt16BE(version.length, at)
    at += version.copy(out, at)
  }
  if (tagNames) {
    at = out.writeUInt8(tagNames.length, at)
    tagNames.forEach((name, i) => {
      at = out.writeUInt16BE(name.length, at)
      at += name.copy(out, at)
      at = out.writeDoubleBE(entry.tags![i]!.version, at)
    })
  }
  payload.copy(out, at)
  return out
}

/** Decodes what a GET returned; a plain string becomes a raw entry. Corrupt envelopes throw. */
export function decodeEntry(stored: Buffer | string): Entry {
  if (typeof stored === 'string') {
    if (!stored.startsWith(TEXT_MARKER)) return rawEntry(stored)
    stored = Buffer.from(stored)
  }
  if (stored[0] === FORMAT_MARKER) return decodeBinary(stored)
  if (stored[0] === 0 && stored[1] === 0x72 && stored[2] === 0x66) return decodeText(stored)
  return rawEntry(stored.toString('utf8'))
}

function rawEntry(text: string): Entry {
  return { raw: true, text, typed: false, expiresAt: undefined, version: undefined, tags: undefined }
}

/** Parses the text layout straight from the bytes; only the JSON part becomes a string. */
function decodeText(stored: Buffer): Entry {
  try {
    const flags = stored[3]! - FLAG_BASE
    if (flags < 0 || flags >= 32) throw new RangeError('bad flags')
    const cursor = { at: 4 }
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
    const text = stored.toString('utf8', cursor.at)
    return { raw: false, text, typed: (flags & TYPED) !== 0, expiresAt, version, tags }
  } catch (error) {
    throw new SerializationError(`stored cache entry is corrupt (${(error as Error).message})`, {
      cause: error,
    })
  }
}

const DOT = 0x2e
const COLON = 0x3a

// Module-level readers rather than closures: decoding is on every read's path.
function readNumber(stored: Buffer, cursor: { at: number }, stop: number): number {
  let value = 0
  let digits = 0
  for (;;) {
    const c = stored[cursor.at++]
    if (c === undefined) throw new RangeError('truncated header')
    if (c === stop) break
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x57 : -1
    if (digit < 0) throw new RangeError('bad number')
    value = value * 36 + digit
    digits++
  }
  if (digits === 0) throw new RangeError('bad number')
  return value
}

function readString(stored: Buffer, cursor: { at: number }): string {
  const length = readNumber(stored, cursor, COLON)
  if (cursor.at + length > stored.length) throw new RangeError('truncated header')
  const value = stored.toString('utf8', cursor.at, cursor.at + length)
  cursor.at += length
  return value
}

function decodeBinary(stored: Buffer): Entry {
  try {
    const flags = stored[1]!
    let at = 2
    let expiresAt: number | undefined
    let version: string | undefined
    let tags: TagStamp[] | undefined
    if (flags & EXPIRES) {
      expiresAt = stored.readUIntBE(at, 6)
      at += 6
    }
    if (flags & VERSIONED) {
      const length = stored.readUInt16BE(at)
      version = stored.toString('utf8', at + 2, at + 2 + length)
      at += 2 + length
    }
    if (flags & TAGGED) {
      const count = stored.readUInt8(at)
      at += 1
      tags = []
      for (let i = 0; i < count; i++) {
        const length = stored.readUInt16BE(at)
        const name = stored.toString('utf8', at + 2, at + 2 + length)
        at += 2 + length
        tags.push({ name, version: stored.readDoubleBE(at) })
        at += 8
      }
    }
    if (at > stored.length) throw new RangeError('truncated header')
    const text =
      flags & COMPRESSED ? inflateRawSync(stored.subarray(at)).toString('utf8') : stored.toString('utf8', at)
    return { raw: false, text, typed: (flags & TYPED) !== 0, expiresAt, version, tags }
  } catch (error) {
    throw new SerializationError(`stored cache entry is corrupt (${(error as Error).message})`, {
      cause: error,
    })
  }
}

/** True if the stored bytes are a compressed envelope (for tests and diagnostics). */
export function isCompressed(stored: Buffer | string): boolean {
  if (typeof stored === 'string') return false
  return stored[0] === FORMAT_MARKER && (stored[1]! & COMPRESSED) !== 0
}
