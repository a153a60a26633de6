import { createHash } from 'node:crypto'
import { describeValue, invalidArgument, isPlainObject, isWellFormed, LONE_SURROGATE } from '../validate.ts'
import type { CacheKey } from './types.ts'

/**
 * Rails' key expansion (`ActiveSupport::Cache#expanded_key`): a string as is; a number
 * stringified; `cacheKey()` (never a versioned key) or `toParam()`; an array joins its elements'
 * expansions with `/` (a one-element array is its element); a plain object becomes its sorted
 * `k=v` pairs joined with `/` (each `k` and `v` escaped, nested values bracketed: expand).
 * Blank keys are a TypeError, and so is every object that has no key of its own (a Map, a
 * Date, a class instance without `cacheKey()`) and a cyclic array or object: `String()` would
 * give all of them one key, and a read of one would return another's value (SPEC §3).
 */
export function expandKey(key: unknown, op: string): string {
  // A string (the common key) as it is, without the walk's list of objects.
  const expanded = typeof key === 'string' ? key : expand(key, op, [])
  if (expanded === undefined || expanded === '') {
    throw invalidArgument('ERR_INVALID_KEY', `cache.${op}: key cannot be blank (got ${describe(key)})`)
  }
  if (!isWellFormed(expanded)) throw invalidArgument('ERR_INVALID_KEY', `cache.${op}: key ${LONE_SURROGATE}`)
  return expanded
}

/** The characters that frame an object's `k=v` pairs and nested values (and `%`, which escapes them). */
const PAIR_FRAMING = /[%/={}[\]]/g
const PAIR_ESCAPES: Record<string, string> = {
  '%': '%25',
  '/': '%2F',
  '=': '%3D',
  '{': '%7B',
  '}': '%7D',
  '[': '%5B',
  ']': '%5D',
}

/**
 * A name or value of an object key's pair, with its framing characters percent-escaped:
 * unescaped, `{ a: 'x/b=1' }` and `{ a: 'x', b: 1 }` were one key (two objects never share an
 * entry, SPEC §3).
 */
function pairPart(text: string): string {
  return text.replace(PAIR_FRAMING, (c) => PAIR_ESCAPES[c]!)
}

/**
 * Arrays and objects nested in a key at most: deeper, the walk would overflow the stack (a
 * RangeError naming nothing) long before any real key gets there.
 */
const MAX_KEY_DEPTH = 1000

/**
 * `path` holds the arrays and objects being expanded, outermost first: a cycle meets itself there.
 * `inPair`: inside an object's pair value, where strings are escaped (pairPart) and a nested
 * array or object is bracketed (`[x/y]`, `{b=1}`), so that no string spells the same.
 */
function expand(key: unknown, op: string, path: object[], inPair = false): string | undefined {
  switch (typeof key) {
    case 'string':
      return inPair ? pairPart(key) : key
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(key)
    case 'undefined':
      return undefined
    case 'object':
      break
    default:
      throw invalidArgument('ERR_INVALID_KEY', `cache.${op}: a ${typeof key} cannot be a cache key`)
  }
  if (key === null) return undefined
  const own = ownKey(key, op)
  if (own !== undefined) return inPair ? pairPart(own) : own
  if (path.includes(key)) {
    throw invalidArgument(
      'ERR_INVALID_KEY',
      `cache.${op}: the key contains itself (a cyclic array or object)`,
    )
  }
  if (path.length === MAX_KEY_DEPTH) {
    throw invalidArgument('ERR_INVALID_KEY', `cache.${op}: the key is nested more than ${MAX_KEY_DEPTH} deep`)
  }
  path.push(key)
  try {
    if (Array.isArray(key)) {
      if (inPair) return `[${key.map((part) => expand(part, op, path, true) ?? '').join('/')}]`
      return key.length <= 1
        ? expand(key[0], op, path)
        : key.map((part) => expand(part, op, path) ?? '').join('/')
    }
    if (!isPlainObject(key)) {
      throw invalidArgument(
        'ERR_INVALID_KEY',
        `cache.${op}: a ${key.constructor?.name ?? 'non-plain object'} cannot be a cache key; ` +
          'give it a cacheKey() method or pass a string',
      )
    }
    const pairs = Object.entries(key).map(([k, v]) => `${pairPart(k)}=${expand(v, op, path, true) ?? ''}`)
    const joined = pairs.sort().join('/')
    return inPair ? `{${joined}}` : joined
  } finally {
    path.pop()
  }
}

/** What an object says its key is: `cacheKey()` (never a versioned key), or `toParam()`. */
function ownKey(key: object, op: string): string | undefined {
  const cacheKey = (key as { cacheKey?: unknown }).cacheKey
  if (typeof cacheKey === 'function') return keyReturned(cacheKey.call(key), 'cacheKey()', op)
  if (typeof cacheKey === 'string') return cacheKey
  const toParam = (key as { toParam?: unknown }).toParam
  if (typeof toParam === 'function') return keyReturned(toParam.call(key), 'toParam()', op)
  return undefined
}

/**
 * What an object's key method returned, as text: a string or a number. Anything else (the
 * undefined of a method that forgot its `return`, an object) is refused: `String()` would give
 * every such object one key, and one object's entry would be read for another's (SPEC §3).
 */
function keyReturned(returned: unknown, method: string, op: string): string {
  if (typeof returned === 'string' || typeof returned === 'number') return String(returned)
  throw invalidArgument(
    'ERR_INVALID_KEY',
    `cache.${op}: the key's ${method} returned ${describeValue(returned)}, not a string`,
  )
}

/**
 * Rails' `expanded_version`: the key's `cacheVersion`, or for an array the versions of its
 * elements that have one joined with `/`. Unlike Rails, an array with no versioned element has
 * no version (Ruby's empty-string version would make it mismatch every versioned entry).
 */
export function expandVersion(key: unknown, op: string): string | undefined {
  const version = versionOf(key, op)
  return version === undefined ? undefined : wellFormedVersion(version, op)
}

function versionOf(key: unknown, op: string): string | undefined {
  if (key === null || typeof key !== 'object') return undefined
  const declared = (key as { cacheVersion?: unknown }).cacheVersion
  // As Rails' `cache_version` returning nil: a method that returns nothing means no version.
  const version = typeof declared === 'function' ? declared.call(key) : declared
  if (version !== undefined && version !== null) return versionText(version, op)
  if (!Array.isArray(key)) return undefined
  const parts = key.map((part) => versionOf(part, op)).filter((v): v is string => v !== undefined)
  return parts.length === 0 ? undefined : parts.join('/')
}

/**
 * A key's version as text. An object other than a Date would read `[object Object]`, one
 * version for every object, so entries of another version would be hits: refused.
 */
function versionText(version: unknown, op: string): string {
  const isText = typeof version !== 'object' || version instanceof Date
  if (isText && typeof version !== 'function' && typeof version !== 'symbol') return String(version)
  throw invalidArgument(
    'ERR_INVALID_ARGUMENT',
    `cache.${op}: the key's cacheVersion is ${describeValue(version)}, not a string or a number`,
  )
}

/** Versions compare as strings, so `1` and `'1'` are the same version. */
export function normalizeVersion(version: unknown, op: string): string | undefined {
  if (version === undefined || version === null) return undefined
  if (typeof version !== 'string' && typeof version !== 'number') {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: version must be a string or a number, got ${describeValue(version)}`,
    )
  }
  return wellFormedVersion(String(version), op)
}

/**
 * A version is kept in the entry's envelope and compared as text: one with a lone surrogate
 * would come back as U+FFFD, so a read asking for it could never hit (and a write would be lost).
 */
function wellFormedVersion(version: string, op: string): string {
  if (!isWellFormed(version))
    throw invalidArgument('ERR_INVALID_ARGUMENT', `cache.${op}: version ${LONE_SURROGATE}`)
  return version
}

/** The version a call asks for: the explicit option beats the key's own `cacheVersion`. */
export function requestedVersion(key: CacheKey, version: unknown, op: string): string | undefined {
  return normalizeVersion(version, op) ?? expandVersion(key, op)
}

const HASH_MARK = ':hash:'
const HASH_SUFFIX_BYTES = HASH_MARK.length + 32
const HASH_DIGITS = /^[0-9a-f]{32}$/

/**
 * Whether `full` is kept as it is by truncateKey: it is short enough, and it does not end as a
 * shortened key does (`:hash:` and 32 hex digits). Such a key is hashed like a long one, or it
 * would be the very key a long one was shortened to and read or overwrite its entry (helper-281).
 */
export function keptWhole(full: string, max: number | false): boolean {
  // Cheap test first: a string of n UTF-16 units never has more than 3n UTF-8 bytes. Without a
  // limit too: a cache of the same namespace with one may have shortened a key to this one.
  const short = max === false || full.length * 3 <= max || Buffer.byteLength(full) <= max
  return short && !endsAsShortened(full)
}

function endsAsShortened(full: string): boolean {
  const at = full.length - HASH_SUFFIX_BYTES
  return at >= 0 && full.startsWith(HASH_MARK, at) && HASH_DIGITS.test(full.slice(at + HASH_MARK.length))
}

/**
 * Shortens a full Redis key of more than `max` UTF-8 bytes to at most `max` bytes: the prefix (the
 * namespace part, which must survive so that nothing lands outside it) is kept, the rest is cut
 * on a character boundary, and `:hash:` plus 32 hex digits of the SHA-256 of the whole key is
 * appended, so two long keys that differ anywhere never share an entry. A key that ends as such a
 * key does is hashed too (keptWhole): no key kept whole ends that way.
 */
export function truncateKey(full: string, prefixLength: number, max: number | false): string {
  if (keptWhole(full, max)) return full
  const bytes = Buffer.from(full)
  const digest = createHash('sha256').update(bytes).digest('hex').slice(0, 32)
  const prefixBytes = Buffer.byteLength(full.slice(0, prefixLength))
  const room = max === false ? bytes.length : max - HASH_SUFFIX_BYTES
  let cut = Math.max(prefixBytes, Math.min(bytes.length, room))
  // Back off to the start of a UTF-8 character (continuation bytes are 10xxxxxx).
  while (cut > prefixBytes && (bytes[cut]! & 0xc0) === 0x80) cut--
  return `${bytes.toString('utf8', 0, cut)}${HASH_MARK}${digest}`
}

function describe(key: unknown): string {
  if (key === undefined) return 'undefined'
  try {
    return JSON.stringify(key) ?? String(key)
  } catch {
    return String(key)
  }
}
