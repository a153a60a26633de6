import { ConfigError } from './errors.ts'

/** Longest key a caller may pass, in UTF-8 bytes, after any primitive prefix. */
export const MAX_KEY_BYTES = 1024

const NAMESPACE_PATTERN = /^[^\s{}]+$/

/**
 * Where a fleet's keys live: every key and channel starts with `${namespace}:`.
 * Braces are refused in namespaces because a `{` would become the Redis Cluster hash tag of
 * every key and pile the whole fleet onto one slot.
 */
export class Keyspace {
  readonly namespace: string
  readonly prefix: string

  constructor(namespace: string) {
    if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
      throw new ConfigError(
        `namespace must be a non-empty string without spaces or braces, got ${JSON.stringify(namespace)}`,
      )
    }
    this.namespace = namespace
    this.prefix = `${namespace}:`
  }

  /** The view `withNamespace(ns)` uses: keys under `${namespace}:${ns}:`. */
  child(ns: string): Keyspace {
    return new Keyspace(`${this.namespace}:${ns}`)
  }

  /** The full Redis key (or channel) for a name inside this namespace. */
  key(...parts: string[]): string {
    return this.prefix + parts.join(':')
  }

  /** True if `fullKey` belongs to this namespace (guards everything that scans or deletes). */
  owns(fullKey: string): boolean {
    return fullKey.startsWith(this.prefix)
  }
}

/**
 * Validates a user key: a non-empty string of at most MAX_KEY_BYTES UTF-8 bytes.
 * Bad keys are a TypeError (a programming error), as SPEC §2 asks.
 */
export function assertKey(key: unknown, op: string): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`${op}: key must be a string, got ${typeof key}`)
  if (key.length === 0) throw new TypeError(`${op}: key must not be empty`)
  // A UTF-8 character is at most 3 bytes per UTF-16 unit: short keys skip the byte count.
  if (key.length * 3 <= MAX_KEY_BYTES) return
  const bytes = Buffer.byteLength(key)
  if (bytes > MAX_KEY_BYTES) {
    throw new TypeError(`${op}: key is ${bytes} bytes, more than the ${MAX_KEY_BYTES} allowed`)
  }
}

/**
 * The part of a key that decides its placement: the first non-empty `{...}` hash tag if any
 * (the Redis Cluster rule), else the whole key. The ring uses it too, so tagged keys share a
 * node on every topology.
 */
export function hashSlotSource(key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  if (close === -1 || close === open + 1) return key
  return key.slice(open + 1, close)
}
