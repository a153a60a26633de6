import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { SerializationError } from '../errors.ts'
import { reviveValue } from './values.ts'

/**
 * The stored form of a cache entry. Self-describing and compact:
 *
 *   byte 0     0xF5 format marker (format 1). 0xF5 never occurs in UTF-8 text, so a plain string
 *              written by a counter, `raw: true`, redis-cli or another client is never mistaken
 *              for an envelope, and an envelope never for a plain string.
 *   byte 1     flags: 1 compressed, 2 has expiresAt, 4 has version, 8 typed JSON, 16 has tags
 *   6 bytes    expiresAt, epoch ms, unsigned big-endian          (if flag 2)
 *   2+n bytes  version: length, UTF-8                            (if flag 4)
 *   1+… bytes  tags: count, then per tag length(2), name, version(8, float64)  (if flag 16)
 *   rest       the value as JSON (raw deflate when flag 1)
 *
 * The expiry lives inside the entry because it must be exact (a read at or after expiresAt
 * never returns it) while Redis' own TTL is only a memory bound, padded for raceConditionTtl.
 */
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
}

export interface Compression {
  compress: boolean
  threshold: number
}

/** The value an entry stands for; a fresh object on every call, so callers never share one. */
export function entryValue(entry: Entry): unknown {
  if (entry.raw) return entry.text
  const parsed: unknown = JSON.parse(entry.text)
  return entry.typed ? reviveValue(parsed) : parsed
}

export function isExpired(entry: Entry, now: number): boolean {
  return entry.expiresAt !== undefined && entry.expiresAt <= now
}

/** Rails' `mismatched?`: only two versions that are both present and differ are a mismatch. */
export function isMismatched(entry: Entry, version: string | undefined): boolean {
  return entry.version !== undefined && version !== undefined && entry.version !== version
}

export function encodeEntry(entry: Entry, compression: Compression): Buffer {
  if (entry.raw) return Buffer.from(entry.text)
  let payload = Buffer.from(entry.text)
  let flags = entry.typed ? TYPED : 0
  if (compression.compress && payload.length >= compression.threshold && payload.length > 0) {
    // Kept only when it saves space: incompressible data is stored as it came.
    const deflated = deflateRawSync(payload)
    if (deflated.length < payload.length) {
      payload = deflated
      flags |= COMPRESSED
    }
  }
  let size = 2 + payload.length
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
  if (typeof stored === 'string' || stored[0] !== FORMAT_MARKER) {
    const text = typeof stored === 'string' ? stored : stored.toString('utf8')
    return { raw: true, text, typed: false, expiresAt: undefined, version: undefined, tags: undefined }
  }
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
export function isCompressed(stored: Buffer): boolean {
  return stored[0] === FORMAT_MARKER && (stored[1]! & COMPRESSED) !== 0
}
