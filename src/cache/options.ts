import type { ConfigError } from '../errors.ts'
import {
  assertBooleanOption,
  assertCallOptions,
  booleanOption,
  checkedWhereUsed,
  checkOptions,
  describeValue,
  invalidArgument,
  invalidOption,
  isPlainObject,
  isWellFormed,
  LONE_SURROGATE,
  type OptionCheck,
  type OptionSchema,
  pastSafeInteger,
  retryOption,
} from '../validate.ts'
import type { CacheOptions, FetchOptions, WriteOptions } from './types.ts'

/** Rails pads the Redis TTL of entries written with raceConditionTtl, so stale values stay readable. */
export const RACE_CONDITION_PADDING = 5 * 60_000

/** The per-call defaults a cache was created with (validated once, at creation). */
export interface WriteDefaults {
  expiresIn: number | undefined
  raceConditionTtl: number | undefined
  skipNil: boolean
  compress: boolean
  compressThreshold: number
  raw: boolean
}

export function resolveDefaults(options: CacheOptions): WriteDefaults {
  const positive = (name: string, value: unknown, allowZero = false) => {
    if (value === undefined) return undefined
    if (!isDuration(value) || (!allowZero && value === 0)) {
      throw refused(name, `a ${allowZero ? 'non-negative' : 'positive'} number`, value)
    }
    return value
  }
  return {
    expiresIn: positive('expiresIn', options.expiresIn),
    raceConditionTtl: positive('raceConditionTtl', options.raceConditionTtl, true),
    skipNil: options.skipNil === true,
    compress: options.compress !== false,
    compressThreshold: positive('compressThreshold', options.compressThreshold, true) ?? 1024,
    raw: options.raw === true,
  }
}

/**
 * The names a write, fetch or multi-key write takes (SPEC §3 WriteOptions, and fetch's own):
 * one list for all of them, since a compute's WriteOptions is often passed on to a write.
 */
const FETCH_OPTIONS = [
  'expiresIn',
  'expiresAt',
  'version',
  'unlessExist',
  'raw',
  'compress',
  'compressThreshold',
  'raceConditionTtl',
  'tags',
  'force',
  'skipNil',
] as const

/** Options that are yes or no: a string such as 'yes' or 'false' is refused, not taken as true. */
const YES_NO_OPTIONS = ['unlessExist', 'raw', 'compress', 'force', 'skipNil'] as const

const EXPIRY_ACCESSORS = ['expiresIn', 'expiresAt'] as const

/**
 * The options of one write, store defaults merged with the call's. It is also what a fetch
 * compute receives (Rails' WriteOptions): setting one expiry clears the other, and it is a copy,
 * so a compute never changes the cache's defaults.
 */
export class WriteSettings implements WriteOptions {
  #expiresIn: number | null | undefined
  #expiresAt: number | Date | undefined
  version: string | number | undefined
  unlessExist: boolean
  raw: boolean
  compress: boolean
  compressThreshold: number
  raceConditionTtl: number | undefined
  tags: string[] | undefined
  force: boolean
  skipNil: boolean

  constructor(defaults: WriteDefaults, call: FetchOptions | undefined, op: string) {
    assertCallOptions(call, `cache.${op}`, FETCH_OPTIONS)
    const o = call ?? {}
    for (const name of YES_NO_OPTIONS) assertBooleanOption(o[name], name, `cache.${op}`)
    validateExpiry(o, op)
    // A call's expiresAt replaces the default expiresIn (as in Rails, where it becomes expires_in).
    // `expiresIn: undefined` is no option, as everywhere: only null overrides the default.
    this.#expiresIn =
      o.expiresAt !== undefined ? undefined : o.expiresIn !== undefined ? o.expiresIn : defaults.expiresIn
    this.#expiresAt = o.expiresAt
    this.version = o.version
    this.unlessExist = o.unlessExist === true
    this.raw = o.raw ?? defaults.raw
    this.compress = o.compress ?? defaults.compress
    this.compressThreshold =
      nonNegative(o.compressThreshold, 'compressThreshold', op) ?? defaults.compressThreshold
    this.raceConditionTtl =
      nonNegative(o.raceConditionTtl, 'raceConditionTtl', op) ?? defaults.raceConditionTtl
    this.tags = validateTags(o.tags, op)
    assertRawUntagged(this, op)
    this.force = o.force === true
    this.skipNil = o.skipNil ?? defaults.skipNil
    // Own and enumerable, as the other options: `{ ...writeOptions }` in a compute keeps them.
    for (const name of EXPIRY_ACCESSORS) {
      Object.defineProperty(this, name, {
        ...Object.getOwnPropertyDescriptor(WriteSettings.prototype, name),
        enumerable: true,
      })
    }
  }

  get expiresIn(): number | null | undefined {
    return this.#expiresIn
  }

  set expiresIn(value: number | null | undefined) {
    this.#expiresIn = value
    if (value !== undefined && value !== null) this.#expiresAt = undefined
  }

  get expiresAt(): number | Date | undefined {
    return this.#expiresAt
  }

  set expiresAt(value: number | Date | undefined) {
    this.#expiresAt = value
    if (value !== undefined) this.#expiresIn = undefined
  }

  /**
   * When the entry expires (epoch ms) and the Redis TTL to set (ms), at `now`. A TTL of
   * undefined: no expiry. `expired`: the requested expiry is already past.
   */
  expiry(
    now: number,
    op: string,
  ): { expiresAt: number | undefined; ttl: number | undefined; expired: boolean } {
    validateExpiry({ expiresIn: this.#expiresIn, expiresAt: this.#expiresAt }, op)
    let ttl: number | undefined
    if (this.#expiresAt !== undefined) ttl = epochMs(this.#expiresAt, op) - now
    else if (this.#expiresIn !== undefined && this.#expiresIn !== null) ttl = this.#expiresIn
    if (ttl === undefined) return { expiresAt: undefined, ttl: undefined, expired: false }
    if (ttl <= 0) return { expiresAt: now + ttl, ttl: undefined, expired: true }
    const padding = this.raceConditionTtl !== undefined && !this.raw ? RACE_CONDITION_PADDING : 0
    return { expiresAt: now + ttl, ttl: Math.ceil(ttl) + padding, expired: false }
  }

  /** An explicit write whose expiry is already past at `now` is refused (a fetch's fill stores nothing instead). */
  assertNotPast(now: number, op: string): void {
    if (this.expiry(now, op).expired) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op}: cache expiration time is invalid, expiresAt is in the past`,
      )
    }
  }
}

/**
 * A raw entry has no envelope to stamp tag versions in: invalidateTag could not reach it. Checked
 * as the options are given, and again as the value is written (a fetch compute may set either).
 */
export function assertRawUntagged(settings: Pick<WriteSettings, 'raw' | 'tags'>, op: string): void {
  if (settings.raw && settings.tags !== undefined && settings.tags.length > 0) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: tags cannot be used with raw: true (a raw entry is a plain string, with no place for tag versions)`,
    )
  }
}

export function validateExpiry(o: { expiresIn?: unknown; expiresAt?: unknown }, op: string): void {
  const { expiresIn, expiresAt } = o
  if (expiresIn instanceof Date) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: expiresIn should not be a Date. Did you mean to use expiresAt? Got: ${expiresIn.toISOString()}`,
    )
  }
  if (expiresIn !== undefined && expiresIn !== null && expiresAt !== undefined) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: either expiresIn or expiresAt can be supplied, but not both`,
    )
  }
  if (expiresIn !== undefined && expiresIn !== null) {
    if (typeof expiresIn !== 'number' || Number.isNaN(expiresIn)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op}: expiresIn must be a number of milliseconds, got ${describeValue(expiresIn)}`,
      )
    }
    if (expiresIn <= 0) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op}: cache expiration time is invalid, cannot be negative or zero: ${expiresIn}`,
      )
    }
    if (!isDuration(expiresIn)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${op}: expiresIn must be a number of milliseconds, got ${describeValue(expiresIn)}${pastSafeInteger(expiresIn)}`,
      )
    }
  }
  if (expiresAt !== undefined) epochMs(expiresAt, op)
}

/**
 * A number of milliseconds a cache may take: finite, not negative, at most 2^53 - 1. Larger
 * ones are no PX Redis takes (1e20 is "not an integer"), and an infinite one was written into
 * the memory topology's entry as a number it could not read back.
 */
function isDuration(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER
}

/** The latest time a Date can hold, in epoch ms. */
const MAX_EPOCH_MS = 8.64e15

function epochMs(value: unknown, op: string): number {
  const ms = value instanceof Date ? value.getTime() : value
  if (typeof ms !== 'number' || !Number.isFinite(ms) || Math.abs(ms) > MAX_EPOCH_MS) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: expiresAt must be a Date or epoch milliseconds, got ${describeValue(value)}`,
    )
  }
  return ms
}

function nonNegative(value: unknown, name: string, op: string): number | undefined {
  if (value === undefined) return undefined
  if (!isDuration(value)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: ${name} must be a non-negative number, got ${describeValue(value)}${pastSafeInteger(value)}`,
    )
  }
  return value
}

/** A tag is a non-empty string. */
function isNoTag(tag: unknown): boolean {
  return typeof tag !== 'string' || tag.length === 0
}

function validateTags(tags: unknown, op: string): string[] | undefined {
  if (tags === undefined) return undefined
  // Array.from: a hole is an undefined tag (some and every skip holes).
  const list: unknown[] | undefined = Array.isArray(tags) ? Array.from(tags) : undefined
  const bad = list === undefined ? -1 : list.findIndex(isNoTag)
  if (list === undefined || bad >= 0) {
    const got =
      list === undefined ? `got ${describeValue(tags)}` : `but tags[${bad}] is ${describeValue(list[bad])}`
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: tags must be an array of non-empty strings, ${got}`,
    )
  }
  if (!(list as string[]).every(isWellFormed)) {
    throw invalidArgument('ERR_INVALID_ARGUMENT', `cache.${op}: a tag ${LONE_SURROGATE}`)
  }
  return [...new Set(list as string[])]
}

/** Counter TTL: a positive number of ms or nothing. */
export function counterTtl(value: unknown, fallback: number | undefined, op: string): number | undefined {
  if (value === undefined) return fallback
  if (value === null) return undefined
  if (!isDuration(value) || value === 0) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `cache.${op}: expiresIn must be a positive number of milliseconds, got ${describeValue(value)}${pastSafeInteger(value)}`,
    )
  }
  return Math.ceil(value)
}

/**
 * A cache option's value refused: it names the option, what it must be and what came (SPEC §1:
 * `cache: lockTimeout must be a non-negative number of ms, got the string "5000"`).
 */
function refused(name: string, expected: string, value: unknown): ConfigError {
  return invalidOption(
    `cache: ${name} must be ${expected}, got ${describeValue(value)}${pastSafeInteger(value)}`,
  )
}

const namespaceOption: OptionCheck = (value, name) => {
  if (typeof value !== 'string' || value === '' || /[{}\s]/.test(value)) {
    throw refused(name, 'a non-empty string without spaces or braces', value)
  }
  if (!isWellFormed(value)) throw invalidOption(`cache: ${name} ${LONE_SURROGATE}`)
}

const modelVersionOption: OptionCheck = (value, name) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw refused(name, 'an integer', value)
}

const tenantOption: OptionCheck = (value, name) => {
  if (typeof value !== 'function') throw refused(name, 'a function returning the current tenant', value)
}

const maxKeySizeOption: OptionCheck = (value, name) => {
  if (value === false) return
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 64) {
    throw refused(name, 'an integer of at least 64 bytes, or false', value)
  }
}

const lockTimeoutOption: OptionCheck = (value, name) => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw refused(name, 'a non-negative number of ms', value)
  }
}

const errorHandlerOption: OptionCheck = (value, name) => {
  if (typeof value !== 'function') throw refused(name, 'a function', value)
}

/** The names `near` takes: a misspelt one (`near: { maxx: 10 }`) is refused, naming `near.max`. */
const NEAR_OPTIONS: OptionSchema = { max: checkedWhereUsed }

const nearOption: OptionCheck = (value, name) => {
  if (value === false) return
  if (!isPlainObject(value)) throw refused(name, 'false or { max: a positive integer }', value)
  checkOptions(value, NEAR_OPTIONS, { where: `${name}.` })
  const { max } = value
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
    throw refused(`${name}.max`, 'a positive integer', max)
  }
}

/** Every option a cache takes; resolveDefaults checks those marked checkedWhereUsed. */
const CACHE_OPTIONS: OptionSchema = {
  namespace: namespaceOption,
  expiresIn: checkedWhereUsed,
  raceConditionTtl: checkedWhereUsed,
  skipNil: booleanOption,
  compress: booleanOption,
  compressThreshold: checkedWhereUsed,
  maxKeySize: maxKeySizeOption,
  modelVersion: modelVersionOption,
  tenant: tenantOption,
  near: nearOption,
  lockTimeout: lockTimeoutOption,
  errorHandler: errorHandlerOption,
  raw: booleanOption,
  retry: retryOption,
}

/** Checks a cache's options when it is made (per-call options are checked by each call). */
export function assertCacheOptions(options: unknown): asserts options is CacheOptions {
  if (options === undefined) return
  checkOptions(options, CACHE_OPTIONS, { what: 'cache options' })
}
