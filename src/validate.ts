/**
 * Checks of arguments and options, and the coded errors they throw. A bad option is a
 * ConfigError (thrown synchronously by a factory); a bad argument of a call is an
 * InvalidArgumentError (a TypeError). Messages name the option or argument, what was expected
 * and what came (`connectTimeout must be a number, got the string "5000"`), never a key's value.
 */
import { types } from 'node:util'
import { type ArgumentErrorCode, ConfigError, type ConfigErrorCode, InvalidArgumentError } from './errors.ts'

/** The longest delay a Node timer holds: 2^31 - 1 ms (about 24.8 days). */
export const MAX_TIMER_DELAY = 2 ** 31 - 1

/** Longest key a caller may pass, in UTF-8 bytes, after any primitive prefix. */
export const MAX_KEY_BYTES = 1024

export function invalidArgument(code: ArgumentErrorCode, message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, code)
}

export function invalidOption(message: string, code: ConfigErrorCode = 'ERR_INVALID_OPTION'): ConfigError {
  return new ConfigError(message, code)
}

/** What a value is, for "got ..." in a message: its type, and the value itself for short scalars. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype) return 'an array'
  switch (typeof value) {
    case 'undefined':
      return 'undefined'
    case 'string':
      return value.length <= 40
        ? `the string ${JSON.stringify(value)}`
        : `a string of ${value.length} characters`
    case 'number':
    case 'boolean':
    case 'bigint':
      return `the ${typeof value} ${String(value)}`
    case 'function':
      return 'a function'
    case 'symbol':
      return 'a symbol'
  }
  const proto = Object.getPrototypeOf(value)
  const name = proto === null || proto === Object.prototype ? undefined : proto?.constructor?.name
  if (!name) return 'an object'
  // 'an Error', 'an Int32Array'; but 'a Uint8Array', 'a URL'.
  return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`
}

/**
 * A user key: a non-empty string of at most MAX_KEY_BYTES UTF-8 bytes. Bad keys are a TypeError
 * (ERR_INVALID_KEY), as SPEC §2 asks.
 */
export function assertKey(key: unknown, op: string): asserts key is string {
  assertBoundedString(key, 'key', op, 'ERR_INVALID_KEY')
}

/** A channel, group, room or consumer name: the same rule as a key, named as what it is. */
export function assertName(value: unknown, what: string, op: string): asserts value is string {
  assertBoundedString(value, what, op, 'ERR_INVALID_ARGUMENT')
}

function assertBoundedString(
  value: unknown,
  what: string,
  op: string,
  code: ArgumentErrorCode,
): asserts value is string {
  const problem = boundedStringProblem(value, what)
  if (problem !== undefined) throw invalidArgument(code, `${op}: ${problem}`)
}

/** A name given as an option (a broker's channel): the same rule as a key, as a ConfigError. */
export const nameOption: OptionCheck = (value, name) => {
  const problem = boundedStringProblem(value, name)
  if (problem !== undefined) throw invalidOption(problem)
}

/** An object made by `{}` or `Object.create(null)`: not an array, a Map or a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Whether `text` is well-formed UTF-16: no lone surrogate. Redis keeps bytes, and a lone
 * surrogate goes out as UTF-8's U+FFFD: two different names would share one key.
 */
export function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed()
}

/** Why a string that is not well-formed is refused (after what it is: "key holds …"). */
const LONE = 'holds a lone surrogate, which UTF-8 cannot encode: Redis would keep U+FFFD in its place'

/** Why a name (a key, a tag, a namespace) that is not well-formed is refused. */
export const LONE_SURROGATE = `${LONE}, so two such names would be one`

/** Why a text Redis keeps or delivers as it is (a raw value, a message) that is not well-formed is refused. */
export const LONE_SURROGATE_TEXT = `${LONE}, so it would not come back as it was`

/** What is wrong with a key or name, or undefined when it is a non-empty string of at most MAX_KEY_BYTES. */
function boundedStringProblem(value: unknown, what: string): string | undefined {
  if (typeof value !== 'string') return `${what} must be a string, got ${typeOf(value)}`
  if (value.length === 0) return `${what} must not be empty`
  if (!isWellFormed(value)) return `${what} ${LONE_SURROGATE}`
  // A UTF-8 character is at most 3 bytes per UTF-16 unit: short strings skip the byte count.
  if (value.length * 3 <= MAX_KEY_BYTES) return undefined
  const bytes = Buffer.byteLength(value)
  if (bytes > MAX_KEY_BYTES) return `${what} is ${bytes} bytes, more than the ${MAX_KEY_BYTES} allowed`
  return undefined
}

/** Said after a rejected number past 2^53 - 1 (or Infinity): why it is refused (Redis or Lua would not take it). */
export function pastSafeInteger(value: unknown): string {
  return typeof value === 'number' && value > Number.MAX_SAFE_INTEGER ? ', more than 2^53 - 1' : ''
}

/**
 * A per-call `ttl`: undefined, or a positive integer of milliseconds (TypeError otherwise), at
 * most 2^53 - 1: Redis refuses a larger PX (1e20 is "not an integer"), where memory took it.
 */
export function assertTtl(ttl: unknown, op: string, name = 'ttl'): number | undefined {
  if (ttl === undefined) return undefined
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: ${name} must be a positive integer of milliseconds, got ${describeValue(ttl)}${pastSafeInteger(ttl)}`,
    )
  }
  return ttl
}

/** A count argument of a call (a batch size, a limit): a positive integer, or `fallback` when undefined. */
export function countArgument(value: unknown, what: string, op: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: ${what} must be a positive integer, got ${describeValue(value)}${pastSafeInteger(value)}`,
    )
  }
  return value
}

/** A callback argument of a call. */
export function assertFunction(value: unknown, what: string, op: string): void {
  if (typeof value !== 'function') {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: ${what} must be a function, got ${describeValue(value)}`,
    )
  }
}

/**
 * Built-in kinds whose instances read as no options (their state is not in own properties):
 * checked by prototype chain, which util.types (the object itself) misses behind a Proxy.
 */
const NOT_OPTIONS: readonly (abstract new (...args: never[]) => unknown)[] = [
  Map,
  Set,
  WeakMap,
  WeakSet,
  Date,
  RegExp,
  Promise,
  Error,
  ArrayBuffer,
  URL,
  URLSearchParams,
  WeakRef,
  Blob,
  Headers,
]

/**
 * An object whose properties are its options: a plain object, a class instance, a module
 * namespace. An array, a Map, a Date… (any realm's) is refused: read as options, its
 * properties would be none, and a Map's entries (`url`, `ttl`) silently ignored.
 */
function isOptionsRecord(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false
  // An object literal, the common case, at the cost of one look (options come with many calls).
  if (Object.getPrototypeOf(value) === Object.prototype) return true
  // instanceof walks the prototype chain, a Proxy's too (Vue's reactive(new Map())).
  if (NOT_OPTIONS.some((kind) => value instanceof kind)) return false
  return !(
    Array.isArray(value) ||
    types.isMap(value) ||
    types.isSet(value) ||
    types.isWeakMap(value) ||
    types.isWeakSet(value) ||
    types.isDate(value) ||
    types.isRegExp(value) ||
    types.isPromise(value) ||
    types.isNativeError(value) ||
    types.isAnyArrayBuffer(value) ||
    types.isArrayBufferView(value) ||
    types.isBoxedPrimitive(value)
  )
}

/**
 * The first property `options` inherits that a call would read as an option, if any: an
 * enumerable one (`Object.create({ ttl: 50 })`), or a `known` name found on its prototype (a
 * class's getter). Options are an object's own properties: an inherited one would be obeyed by
 * the call that reads it and missed by the check of names, which reads own ones. A class's
 * methods are neither.
 */
function inheritedOption(options: object, known: KnownNames): string | undefined {
  if (Object.getPrototypeOf(options) === Object.prototype) return undefined
  for (const name in options) if (!Object.hasOwn(options, name)) return name
  // A schema's names are listed only here, past the object literal's return above.
  const names = known === undefined || Array.isArray(known) ? known : Object.keys(known)
  return names?.find((name) => name in options && !Object.hasOwn(options, name))
}

/** The option names a check knows: a call's list, or a factory's schema. */
type KnownNames = readonly string[] | OptionSchema | undefined

function inheritedProblem(options: object, what: string, known: KnownNames): string | undefined {
  const name = inheritedOption(options, known)
  return name === undefined
    ? undefined
    : `${what} must be an object's own properties, got an object that inherits "${name}"`
}

/**
 * A call's own options: undefined or an object, whose names are all `known` when given. A
 * mistyped name (`{ tll: 5 }`) would otherwise be ignored, and the call made without it.
 */
export function assertCallOptions(options: unknown, op: string, known?: readonly string[]): void {
  if (options === undefined) return
  if (!isOptionsRecord(options)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: options must be an object, got ${describeValue(options)}`,
    )
  }
  const inherited = inheritedProblem(options, 'options', known)
  if (inherited !== undefined) throw invalidArgument('ERR_INVALID_ARGUMENT', `${op}: ${inherited}`)
  if (known === undefined) return
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `${op}: unknown option "${name}"${knownHint(name, known)}`,
      )
    }
  }
}

/** A call's yes/no option: undefined or a boolean (a truthy string would flip it silently). */
export function assertBooleanOption(value: unknown, name: string, op: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value
  throw invalidArgument(
    'ERR_INVALID_ARGUMENT',
    `${op}: ${name} must be a boolean, got ${describeValue(value)}`,
  )
}

/** A call's `signal` option: undefined or an AbortSignal. */
export function assertSignal(signal: unknown, op: string): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: signal must be an AbortSignal, got ${describeValue(signal)}`,
    )
  }
}

/**
 * An integer option (ConfigError otherwise): at least 1, or at least 0 with `zero`. Undefined
 * gives `fallback` when there is one.
 */
export function positiveInteger(
  name: string,
  value: unknown,
  { zero = false, fallback, delay = false }: { zero?: boolean; fallback?: number; delay?: boolean } = {},
): number {
  if (value === undefined && fallback !== undefined) return fallback
  const min = zero ? 0 : 1
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidOption(
      `${name} must be ${zero ? 'a non-negative' : 'a positive'} integer, got ${describeValue(value)}${pastSafeInteger(value)}`,
    )
  }
  // A timer's delay: past 2^31 - 1 ms Node fires it at once, a loop every millisecond.
  if (delay && value > MAX_TIMER_DELAY) {
    throw invalidOption(
      `${name} must be at most ${MAX_TIMER_DELAY} ms (the longest delay a Node timer holds), got ${value}`,
    )
  }
  return value
}

// ---- option schemas ---------------------------------------------------------------------------

/** Checks one option's value; `name` is its full dotted name (`retry.attempts`). Throws ConfigError. */
export type OptionCheck = (value: unknown, name: string) => void

/** The options an object may have, each with its check (applied to values other than undefined). */
export type OptionSchema = Readonly<Record<string, OptionCheck>>

/**
 * Checks an options object against `schema`: every name must be known (ERR_UNKNOWN_OPTION,
 * naming the nearest known name, or the one `aliases` gives for a name another library uses)
 * and every defined value must pass its check. `where` prefixes the names in messages (`pool.`
 * for a nested object).
 */
export function checkOptions(
  options: unknown,
  schema: OptionSchema,
  {
    where = '',
    what = 'options',
    aliases = {},
  }: { where?: string; what?: string; aliases?: Readonly<Record<string, string>> } = {},
): void {
  if (options === undefined) return
  if (!isOptionsRecord(options)) {
    throw invalidOption(`${what} must be an object, got ${describeValue(options)}`)
  }
  const inherited = inheritedProblem(options, where === '' ? what : where.slice(0, -1), schema)
  if (inherited !== undefined) throw invalidOption(inherited)
  for (const [name, value] of Object.entries(options)) {
    const check = Object.hasOwn(schema, name) ? schema[name] : undefined
    if (!check) throw unknownOption(name, Object.keys(schema), where, aliases)
    if (value !== undefined) check(value, `${where}${name}`)
  }
}

function unknownOption(
  name: string,
  known: string[],
  where: string,
  aliases: Readonly<Record<string, string>>,
): ConfigError {
  const alias = Object.hasOwn(aliases, name) ? aliases[name] : undefined
  return invalidOption(
    `unknown option "${where}${name}"${knownHint(name, known, where, alias)}`,
    'ERR_UNKNOWN_OPTION',
  )
}

/** What to say of an unknown option name: the nearest known one (or `alias`), else all of them. */
function knownHint(name: string, known: readonly string[], where = '', alias?: string): string {
  const nearest = alias ?? nearestName(name, known)
  return nearest === undefined ? ` (known: ${known.join(', ')})` : ` (did you mean "${where}${nearest}"?)`
}

/**
 * The known name closest to `name`: same letters in another case, or at most a third of the
 * longer of the two mistyped (so `expirs` finds `expiresIn`), at least two letters.
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase()
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase())
    const allowed = Math.max(2, Math.floor(Math.max(name.length, candidate.length) / 3))
    if (distance <= allowed && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution)
    }
    previous = current
  }
  return previous[b.length]!
}

function mustBe(name: string, expected: string, value: unknown): ConfigError {
  return invalidOption(`${name} must be ${expected}, got ${describeValue(value)}`)
}

/** A number option within bounds (finite; an integer with `integer`). */
export function numberOption({
  min = Number.NEGATIVE_INFINITY,
  max = Number.POSITIVE_INFINITY,
  integer = false,
}: {
  min?: number
  max?: number
  integer?: boolean
} = {}): OptionCheck {
  const kind = integer ? 'an integer' : 'a number'
  const range =
    max === Number.POSITIVE_INFINITY
      ? min === Number.NEGATIVE_INFINITY
        ? ''
        : ` of at least ${min}`
      : ` from ${min} to ${max}`
  return (value, name) => {
    if (typeof value !== 'number') throw mustBe(name, kind, value)
    if (!Number.isFinite(value) || (integer && !Number.isSafeInteger(value)) || value < min || value > max) {
      throw mustBe(name, `${kind}${range}`, value)
    }
  }
}

export const booleanOption: OptionCheck = (value, name) => {
  if (typeof value !== 'boolean') throw mustBe(name, 'true or false', value)
}

export const stringOption: OptionCheck = (value, name) => {
  if (typeof value !== 'string') throw mustBe(name, 'a string', value)
}

/** One of a few strings. */
export function oneOfOption(values: readonly string[]): OptionCheck {
  const expected = `one of ${values.map((v) => `'${v}'`).join(', ')}`
  return (value, name) => {
    if (typeof value !== 'string' || !values.includes(value)) throw mustBe(name, expected, value)
  }
}

export const functionOption: OptionCheck = (value, name) => {
  if (typeof value !== 'function') throw mustBe(name, 'a function', value)
}

/** A nested options object, checked against its own schema (names reported as `parent.child`). */
export function objectOption(schema: OptionSchema): OptionCheck {
  return (value, name) => {
    if (!isOptionsRecord(value)) {
      throw mustBe(name, 'an object', value)
    }
    checkOptions(value, schema, { where: `${name}.` })
  }
}

/**
 * For an option checked where it is used (with a message of its own, or against other options):
 * the schema knows its name, so that a misspelt one is refused.
 */
export const checkedWhereUsed: OptionCheck = () => {}

/** The names and bounds of RetryOptions (SPEC §8). */
export const RETRY_OPTIONS: OptionSchema = {
  attempts: numberOption({ min: 1, integer: true }),
  // Delays of a timer: past 2^31 - 1 ms Node fires it after 1 ms, and the backoff would vanish.
  base: numberOption({ min: 0, max: MAX_TIMER_DELAY }),
  factor: numberOption({ min: 1 }),
  max: numberOption({ min: 0, max: MAX_TIMER_DELAY }),
  jitter: numberOption({ min: 0, max: 1 }),
}

/** `retry` options, for the fleet and for any primitive that takes its own. */
export const retryOption: OptionCheck = objectOption(RETRY_OPTIONS)

/** The type word for a message about an argument (`got number`), never the value itself. */
function typeOf(value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'an array' : typeof value
}
