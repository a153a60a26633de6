import { describeValue, invalidOption, isWellFormed, LONE_SURROGATE } from './validate.ts'

// Key validation lives with the other argument checks; re-exported here where callers look for it.
export { assertKey, MAX_KEY_BYTES } from './validate.ts'

const NAMESPACE_PATTERN = /^[^\s{}]+$/

function assertNamespace(namespace: unknown, what: string): asserts namespace is string {
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    throw invalidOption(
      `${what} must be a non-empty string without spaces or braces, got ${describeValue(namespace)}`,
    )
  }
  if (!isWellFormed(namespace)) throw invalidOption(`${what} ${LONE_SURROGATE}`)
}

/**
 * The first segments the primitives' keys take inside a namespace (`${namespace}:cache:…`, the
 * store's default prefix, the claim tokens, convertDataStore's default prefix): a view may not
 * be named after one, or its keys and the fleet's own would be the same keys. Every segment
 * starting with `cache~` is the cache's (its tag versions, fill locks and wake-ups).
 */
const CACHE_OWN = 'cache~'
const NONE: ReadonlySet<string> = new Set()
const PRIMITIVE_SEGMENTS: ReadonlySet<string> = new Set([
  'store',
  'token',
  'cache',
  'broker',
  'presence',
  'streams',
  'membership',
  'tracker',
  'convert',
])

/**
 * Where a fleet's keys live: every key and channel starts with `${namespace}:`.
 * Braces are refused in namespaces because a `{` would become the Redis Cluster hash tag of
 * every key and pile the whole fleet onto one slot.
 */
export class Keyspace {
  readonly namespace: string
  readonly prefix: string

  constructor(namespace: string) {
    assertNamespace(namespace, 'namespace')
    this.namespace = namespace
    this.prefix = `${namespace}:`
  }

  /** The view `withNamespace(ns)` uses: keys under `${namespace}:${ns}:`. */
  child(ns: string): Keyspace {
    assertNamespace(ns, 'withNamespace: namespace')
    this.assertOwnPlace(ns, `withNamespace: '${ns}' would put the view's keys`)
    return new Keyspace(`${this.namespace}:${ns}`)
  }

  /**
   * Refuses a place for a user's keys (`name`, a view or a store prefix) that starts with a
   * segment where the fleet's primitives keep their own keys, other than `allowed`.
   */
  assertOwnPlace(name: string, what: string, allowed: ReadonlySet<string> = NONE): void {
    const problem = this.placeProblem(name, allowed)
    if (problem !== undefined) throw invalidOption(`${what} ${problem}: choose another name`)
  }

  /**
   * Why `name` (a view, a store prefix, or a store key after a prefix that leaves its first
   * segment open) is no place for a user's keys: the first segment is where the fleet's
   * primitives keep their own keys, other than `allowed`. Undefined when it may be used.
   */
  placeProblem(name: string, allowed: ReadonlySet<string> = NONE): string | undefined {
    const colon = name.indexOf(':')
    const segment = colon === -1 ? name : name.slice(0, colon)
    if (allowed.has(segment)) return undefined
    if (!PRIMITIVE_SEGMENTS.has(segment) && !segment.startsWith(CACHE_OWN)) return undefined
    return (
      `under ${this.prefix}${segment}:, where this fleet's own ${segment} keys live ` +
      `(its clear() would delete them)`
    )
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
