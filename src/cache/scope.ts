import type { FleetContext } from '../context.ts'
import { describeValue, invalidArgument, isWellFormed, LONE_SURROGATE } from '../validate.ts'
import { keptWhole, truncateKey } from './keys.ts'
import type { NearScopes } from './near.ts'
import type { CacheOptions } from './types.ts'

/** Where one call's keys live: entries under `entries`, tag versions under `tags`. */
export interface Scope {
  entries: string
  tags: string
}

/** The Redis keys of the versions of tags `names` in `scope`. */
export function tagKeys(scope: Scope, names: readonly string[]): string[] {
  return names.map((name) => tagKey(scope, name))
}

/** The Redis key of the version of tag `name` in `scope`. */
export function tagKey(scope: Scope, name: string): string {
  return scope.tags + storedName(name)
}

const TILDE = 0x7e
const AT = 0x40
const LOWER_V = 0x76
/** A model version's segment, `v<modelVersion>:`. */
const MODEL_SEGMENT = /^v-?\d+:/

/**
 * A key's or tag's name as stored after its scope: with a `~` in front when it starts like a
 * scope segment (`@acme:secret`, `v2:user`) or with `~`, so that a name given to one cache is
 * never a key of another scope in the same namespace (a tenant's, a model version's). Any other
 * name is stored as it is.
 */
export function storedName(name: string): string {
  const scopeLike = name.charCodeAt(0) === TILDE || isTenantScope(name) || isModelScope(name)
  return scopeLike ? `~${name}` : name
}

/**
 * A cache namespace as stored: each `:`-separated part that starts like a scope segment (`@acme`,
 * `v2`) or with `~` gets a `~` in front, as keys do (storedName), so that a namespace never spells
 * a tenant's or model version's place in another cache's (namespace `reports:@acme` is not the
 * tenant `acme` of namespace `reports`). Other parts, and so the prefix rule, are as given.
 */
function storedNamespace(namespace: string): string {
  return namespace
    .split(':')
    .map((part) =>
      part.charCodeAt(0) === TILDE || isTenantScope(part) || isModelScope(`${part}:`) ? `~${part}` : part,
    )
    .join(':')
}

/** A stored name (the rest of a key after a scope's entries) that belongs to a nested scope. */
function isTenantScope(rest: string): boolean {
  return rest.charCodeAt(0) === AT
}
function isModelScope(rest: string): boolean {
  return rest.charCodeAt(0) === LOWER_V && MODEL_SEGMENT.test(rest)
}

/**
 * Where a cache's keys live in Redis. Entries `${fleet}:cache:[${namespace}:][@${tenant}:]
 * [v${modelVersion}:]${key}`; tag versions `${fleet}:cache~tag:[${namespace}:][@${tenant}:]${tag}`
 * (a key or tag that starts like a scope segment or with `~` gets a `~` in front: storedName);
 * fill locks `${fleet}:cache~lock:…`. Tags and locks sit beside the entries, not among them, so
 * no user key can collide with them and `clear`/`deleteMatched` never touch them.
 */
export class KeyScope {
  readonly #base: string
  readonly #tagBase: string
  readonly #lockBase: string
  readonly #fleetPrefixLength: number
  readonly #modelSegment: string
  readonly #tenant: (() => string | undefined) | undefined
  readonly #fixed: Scope | undefined
  readonly #maxKeySize: number | false

  constructor(ctx: FleetContext, options: CacheOptions) {
    const bases = keyBases(ctx, options)
    this.#base = bases.entries
    this.#tagBase = bases.tags
    this.#lockBase = bases.locks
    this.#fleetPrefixLength = ctx.keys.prefix.length
    this.#modelSegment = modelSegment(options)
    this.#tenant = options.tenant
    const fixed = fixedEntryScope(ctx, options)
    this.#fixed = fixed === undefined ? undefined : { entries: fixed, tags: this.#tagBase }
    this.#maxKeySize = options.maxKeySize ?? 1024
  }

  /** The cache namespace as events name it (the entries base without its trailing ':'). */
  get namespace(): string {
    return this.#base.slice(0, -1)
  }

  /** The entries base: every entry of this cache, of any tenant or model version, is under it. */
  get base(): string {
    return this.#base
  }

  /** The scope of one call: fixed, or the current tenant's (a tenant cache without one throws). */
  of(op: string): Scope {
    if (this.#fixed) return this.#fixed
    const tenant = this.#tenantSegment(op)
    return { entries: this.#base + tenant + this.#modelSegment, tags: this.#tagBase + tenant }
  }

  /** Every model version of this namespace (and the call's tenant): what `clear` removes. */
  allVersions(op: string): string {
    return this.#base + this.#tenantSegment(op)
  }

  /**
   * Of the keys under allVersions, those that are not this cache's: a cache without a tenant
   * leaves the tenants' entries alone (undefined: every key is this cache's).
   */
  othersUnderAllVersions(): ((rest: string) => boolean) | undefined {
    return this.#tenant ? undefined : isTenantScope
  }

  /**
   * Of the keys under a call's scope (`of`), those of nested scopes: a tenant's entries under a
   * cache without tenants, a model version's under a cache without one (undefined: none).
   */
  othersInScope(): ((rest: string) => boolean) | undefined {
    if (this.#modelSegment !== '') return undefined
    if (this.#tenant) return isModelScope
    return (rest) => isTenantScope(rest) || isModelScope(rest)
  }

  /** The full Redis key of an entry, shortened with a hash suffix when over `maxKeySize`. */
  full(scope: Scope, name: string): string {
    return truncateKey(scope.entries + storedName(name), scope.entries.length, this.#maxKeySize)
  }

  /** The fill lock of an entry. */
  lockKey(full: string): string {
    return this.#lockBase + full.slice(this.#fleetPrefixLength)
  }

  /**
   * The near cache's key of an entry. In a cache of one scope it is the key's name itself: the
   * full key is a fresh concatenation on every call, and hashing it for the lookup would cost a
   * near-cache hit more than everything else it does.
   */
  nearKey(name: string, full: string): string {
    const prefix = this.#fixed?.entries
    if (prefix === undefined) return full
    const stored = storedName(name)
    // Not truncated (truncateKey's own test): the name, no comparing.
    if (keptWhole(full, this.#maxKeySize)) return stored
    // A key truncated for length has a hashed tail instead of the name.
    return full === prefix + stored ? stored : full.slice(prefix.length)
  }

  #tenantSegment(op: string): string {
    if (!this.#tenant) return ''
    const tenant = this.#tenant()
    if (typeof tenant !== 'string' || tenant.length === 0) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op}: this cache is tenant-scoped and tenant() returned no tenant (got ${describeValue(tenant)})`,
      )
    }
    // encodeURIComponent would throw a URIError on it.
    if (!isWellFormed(tenant))
      throw invalidArgument('ERR_INVALID_ARGUMENT', `cache.${op}: tenant() ${LONE_SURROGATE}`)
    // Encoded so that a tenant can hold any character (':' or braces) without changing the key layout.
    return `@${encodeURIComponent(tenant)}:`
  }
}

function modelSegment(options: CacheOptions): string {
  return options.modelVersion === undefined ? '' : `v${options.modelVersion}:`
}

/**
 * Where every entry of a cache without a tenant lives (entries base plus model version);
 * undefined for a tenant cache, whose entries' scope depends on the tenant of each call.
 */
export function fixedEntryScope(ctx: FleetContext, options: CacheOptions): string | undefined {
  return options.tenant === undefined ? keyBases(ctx, options).entries + modelSegment(options) : undefined
}

/** Where the keys of a cache's near cache live. */
export function nearScopes(ctx: FleetContext, options: CacheOptions): NearScopes {
  return { entries: fixedEntryScope(ctx, options), tags: keyBases(ctx, options).tags }
}

/** Where a cache's keys live: entries, tag versions (both under the namespace option) and locks. */
export function keyBases(
  ctx: FleetContext,
  options: CacheOptions,
): { entries: string; tags: string; locks: string } {
  const ns = options.namespace === undefined ? '' : `${storedNamespace(options.namespace)}:`
  return {
    entries: ctx.keys.key('cache', '') + ns,
    tags: ctx.keys.key('cache~tag', '') + ns,
    locks: ctx.keys.key('cache~lock', ''),
  }
}

/** Error messages name the key, but a 32 KB key would drown the message. */
export function shortName(name: string): string {
  return name.length > 120 ? `${name.slice(0, 120)}…` : name
}
