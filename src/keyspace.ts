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
 * store's default prefix, the claim tokens, convertDataStore's default prefix): no segment of a
 * view's name may be one, or its keys and the fleet's own (or another view's: `eu:cache` is view
 * `eu`'s cache) would be the same keys. Every segment starting with `cache~` is the cache's (its
 * tag versions, fill locks and wake-ups).
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

/** The first segment of `name` (between `:`s) that is a primitive's place or one of `allowed`. */
function firstPlace(
  name: string,
  allowed: ReadonlySet<string>,
): { segment: string; start: number; end: number } | undefined {
  for (let start = 0; start <= name.length; ) {
    const colon = name.indexOf(':', start)
    const end = colon === -1 ? name.length : colon
    const segment = name.slice(start, end)
    if (allowed.has(segment) || PRIMITIVE_SEGMENTS.has(segment) || segment.startsWith(CACHE_OWN)) {
      return { segment, start, end }
    }
    start = end + 1
  }
  return undefined
}

/**
 * The primitive a key of the namespace (its name after `${namespace}:`) belongs to, for key
 * counts: the first primitive's place among its segments but the last (a view's keys count with
 * their primitive's; a key's last segment is only its end), `cache~…` the cache's, the claim
 * tokens the store's. A key in no place is a store's with a prefix of its own
 * (`fleet.store({ prefix: 'cart:' })`).
 */
export function primitiveOf(name: string): string {
  const place = firstPlace(name.slice(0, Math.max(0, name.lastIndexOf(':'))), NONE)?.segment
  if (place === undefined || place === 'token') return 'store'
  return place.startsWith(CACHE_OWN) ? 'cache' : place
}

/**
 * Refuses a namespace in another's primitive's place: `shop:cache` is where the fleet of `shop`
 * keeps its cache, whose clear() would delete it, as `withNamespace('cache')` of `shop` (refused
 * too) would be.
 */
function assertNotInPlace(namespace: string): void {
  const colon = namespace.indexOf(':')
  if (colon === -1) return
  const place = firstPlace(namespace.slice(colon + 1), NONE)
  if (place === undefined) return
  const under = namespace.slice(0, colon + 1 + place.end)
  const owner = namespace.slice(0, colon + place.start)
  throw invalidOption(
    `namespace '${namespace}' is under ${under}:, where the fleet of namespace '${owner}' keeps its ` +
      `own ${place.segment} keys (its clear() would delete them): choose another name`,
  )
}

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
    assertNotInPlace(namespace)
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
   * Refuses a place for a user's keys (`name`, a view or a store prefix) that is where the
   * fleet's primitives, or a view's, keep their own keys (see placeProblem).
   */
  assertOwnPlace(name: string, what: string, allowed: ReadonlySet<string> = NONE): void {
    const problem = this.placeProblem(name, allowed)
    if (problem !== undefined) throw invalidOption(`${what} ${problem}: choose another name`)
  }

  /**
   * Why `name` (a view, a store prefix, or with `leaf` a store key after its prefix) is no place
   * for a user's keys: one of its segments is where the fleet's primitives, or a view's named by
   * the segments before it, keep their own keys (`eu:cache` is view `eu`'s cache). A segment in
   * `allowed` first (a stores' own place) makes the rest the stores'. A key's last segment is
   * only its end (`user:7:cache` is no place: every primitive key has more after its place).
   * Undefined when it may be used.
   */
  placeProblem(name: string, allowed: ReadonlySet<string> = NONE, leaf = false): string | undefined {
    const place = firstPlace(leaf ? name.slice(0, name.lastIndexOf(':') + 1) : name, allowed)
    if (place === undefined || allowed.has(place.segment)) return undefined
    const owner = place.start === 0 ? "this fleet's" : `the view '${name.slice(0, place.start - 1)}''s`
    return (
      `under ${this.prefix}${name.slice(0, place.end)}:, where ${owner} own ${place.segment} keys live ` +
      `(its clear() would delete them)`
    )
  }

  /** True if `prefix`'s complete segments (up to its last `:`) lead into one of `allowed`'s places. */
  inside(prefix: string, allowed: ReadonlySet<string>): boolean {
    const place = firstPlace(prefix.slice(0, prefix.lastIndexOf(':') + 1), allowed)
    return place !== undefined && allowed.has(place.segment)
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
