/**
 * Values as text (SPEC §2). By default strict JSON: what is read back is exactly what was
 * written, so anything JSON would silently change is rejected up front, before anything is
 * written, with SerializationError naming where it is (`value.items[2] is a Map`). A `codec`
 * option replaces JSON (e.g. to keep Dates); its own errors become SerializationError too.
 */
import { messageOf, SerializationError } from './errors.ts'
import { describeValue, invalidOption, isPlainObject, isWellFormed, LONE_SURROGATE_TEXT } from './validate.ts'

/** How values become the text Redis keeps, and back (`StoreOptions.codec`). */
export interface Codec {
  encode(value: unknown): string
  decode(text: string): unknown
}

/**
 * What JSON.stringify would change or drop in `value`, as `<path> is <what>` relative to it
 * (`.items[2] is a Map`), or undefined when it round-trips. Rejected: undefined at the top or in
 * an array (dropped or turned into null), functions and symbols, BigInt, non-finite numbers,
 * Date (comes back a string), Map, Set, Promise, typed arrays and class instances (come back as
 * plain objects) unless they have their own `toJSON` (a plain object with one is taken as well). An undefined property value is allowed:
 * JSON leaves the property out, and reading it back gives undefined as well.
 *
 * The hot path runs after JSON.stringify succeeded, so there is no cycle and `ancestors` stays
 * undefined (no allocation for plain values). There a `toJSON` is not called: the walk answers
 * HAS_TO_JSON, and encodeJson checks and writes what resolveToJSON makes of the value, so that
 * what is checked is what is written, however a `toJSON` answers (it is told the key, as JSON
 * tells it; it may answer differently each time). When stringify threw, the same walk runs with
 * `ancestors` to name the cycle, the BigInt or the throwing `toJSON`.
 *
 * A -0 is no problem but JSON.stringify writes it as 0: the walk answers NEGATIVE_ZERO when it
 * found one and nothing else, and encodeJson then writes the text itself (`-0` is valid JSON).
 */
function findProblem(value: unknown, ancestors?: object[]): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      if (value === 0) return Object.is(value, -0) ? NEGATIVE_ZERO : undefined
      return Number.isFinite(value) ? undefined : ` is ${String(value)}`
    case 'undefined':
      return ' is undefined'
    case 'object':
      return value === null ? undefined : findInObject(value, ancestors)
    case 'bigint':
      return ' is a BigInt'
    default:
      return ` is a ${typeof value}`
  }
}

/** What findProblem answers for a value whose only departure from JSON is a -0 somewhere in it. */
const NEGATIVE_ZERO = ' is -0'

/** What findProblem answers on the hot path (no `ancestors`) for a value with a `toJSON` in it. */
const HAS_TO_JSON = ' has a toJSON()'

function findInObject(value: object, ancestors: object[] | undefined): string | undefined {
  if (ancestors?.includes(value)) return ' is a cycle (it contains itself)'
  let found: string | undefined
  let zero = false
  if (Array.isArray(value)) {
    // A subclass's instance would come back a plain array.
    if (Object.getPrototypeOf(value) !== Array.prototype) return classProblem(value, ancestors)
    ancestors?.push(value)
    // Plain loops: this runs on every write, and entries()/Object.values would allocate.
    for (let i = 0; i < value.length && found === undefined; i++) {
      found = findProblem(value[i], ancestors)
      if (found === HAS_TO_JSON) return found
      if (found === NEGATIVE_ZERO) {
        zero = true
        found = undefined
      } else if (found !== undefined) found = `[${i}]${found}`
    }
  } else {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) return classProblem(value, ancestors)
    // A plain object may say how it is stored, as a class instance may.
    if (hasToJSON(value)) return toJSONProblem(value, ancestors)
    ancestors?.push(value)
    for (const name in value) {
      const member = (value as Record<string, unknown>)[name]
      if (member === undefined) continue
      found = findProblem(member, ancestors)
      if (found === HAS_TO_JSON) return found
      if (found === NEGATIVE_ZERO) {
        zero = true
        found = undefined
      } else if (found !== undefined) {
        found = `${propertyPath(name)}${found}`
        break
      }
    }
  }
  ancestors?.pop()
  return found ?? (zero ? NEGATIVE_ZERO : undefined)
}

/**
 * JSON.stringify of a value findProblem passed, but writing -0 as `-0`. Only values holding a
 * -0 come here: plain objects and arrays, whose members are written as JSON.stringify writes
 * them (own enumerable keys, undefined properties left out; a toJSON value is its own).
 */
function stringifyKeepingNegativeZero(value: unknown): string {
  if (Object.is(value, -0)) return '-0'
  if (typeof value !== 'object' || value === null || hasToJSON(value)) return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(stringifyKeepingNegativeZero).join(',')}]`
  const members: string[] = []
  for (const [name, member] of Object.entries(value)) {
    if (member !== undefined) members.push(`${JSON.stringify(name)}:${stringifyKeepingNegativeZero(member)}`)
  }
  return `{${members.join(',')}}`
}

/** An object that is not a plain object or array: only a class instance with toJSON passes. */
function classProblem(value: object, ancestors: object[] | undefined): string | undefined {
  if (value instanceof Date) return ' is a Date (it would come back as a string)'
  if (isRefusedWithToJSON(value)) return ` is ${describeValue(value)}`
  if (hasToJSON(value)) return toJSONProblem(value, ancestors)
  return ` is ${describeValue(value)}`
}

function hasToJSON(value: object): boolean {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function'
}

/**
 * JSON stores what `toJSON` returns: it must come back as it was returned (a NaN or a Map from
 * toJSON would be stored as null or {}). On the hot path the walk stops at the first `toJSON`
 * (HAS_TO_JSON); naming why stringify threw, it calls it to look inside.
 */
function toJSONProblem(value: object, ancestors: object[] | undefined): string | undefined {
  if (ancestors === undefined) return HAS_TO_JSON
  let json: unknown
  try {
    json = (value as { toJSON(): unknown }).toJSON()
  } catch (error) {
    return ` has a toJSON() that throws (${messageOf(error)})`
  }
  // `toJSON() { return this }` (walking `json` would call it forever): JSON does not call it
  // again. A plain object's members are then what is written (encodeResolved judges them); a
  // class instance is refused, as is any a toJSON returns.
  if (json === value)
    return isPlainObject(value) ? undefined : ' has a toJSON() that returns the instance itself'
  const problem = findProblem(json, ancestors)
  return problem === undefined || problem === NEGATIVE_ZERO ? undefined : `.toJSON()${problem}`
}

/**
 * `value` as JSON.stringify sees it: each `toJSON` called once, with the key JSON passes (the
 * property name, the index, '' at the top), and its result in place; objects and arrays copied.
 * A Date or a Buffer stays one (findProblem refuses it, whatever its `toJSON`), as does an
 * object that is no plain object (a Map a `toJSON` returned: findProblem names it). A
 * function-valued `toJSON` member of a `toJSON`'s result (`toJSON() { return this }`) is left
 * out, as JSON leaves it out.
 */
function resolveToJSON(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null || isRefusedWithToJSON(value)) return value
  const resolved: unknown = hasToJSON(value) ? (value as { toJSON(key: string): unknown }).toJSON(key) : value
  if (typeof resolved !== 'object' || resolved === null) return resolved
  if (Array.isArray(resolved)) return resolved.map((member, i) => resolveToJSON(member, String(i)))
  const proto = Object.getPrototypeOf(resolved)
  if (proto !== Object.prototype && proto !== null) return resolved
  const copy: Record<string, unknown> = {}
  for (const name in resolved) {
    const member = (resolved as Record<string, unknown>)[name]
    if (name === 'toJSON' && typeof member === 'function') continue
    copy[name] = resolveToJSON(member, name)
  }
  return copy
}

/** What has a `toJSON` and is refused all the same (classProblem): a Date, a Buffer. */
function isRefusedWithToJSON(value: object): boolean {
  return value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer
}

/** encodeJson of a value with a `toJSON` in it: checks and writes its resolveToJSON copy. */
function encodeResolved(value: unknown, op: string, key: string): string {
  let resolved: unknown
  try {
    resolved = resolveToJSON(value, '')
  } catch (error) {
    if (error instanceof RangeError) throw rejected(op, key, ' is nested too deeply to be checked', error)
    throw rejected(op, key, ` has a toJSON() that throws (${messageOf(error)})`, error)
  }
  try {
    return encodeJson(resolved, op, key, false)
  } catch (error) {
    if (!(error instanceof SerializationError)) throw error
    // Named again on the value itself, where a toJSON's part shows as `.toJSON()`; a toJSON
    // that answers otherwise this time is named by what was checked.
    const named = checked(value, op, key, [])
    throw named === undefined || named === NEGATIVE_ZERO ? error : rejected(op, key, named, error.cause)
  }
}

function propertyPath(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`
}

function rejected(op: string, key: string, problem: string, cause?: unknown): SerializationError {
  return new SerializationError(
    `${op} '${key}': value${problem}, which cannot be stored as JSON`,
    cause === undefined ? undefined : { cause },
  )
}

/**
 * Strict JSON: encodes `value`, or throws SerializationError naming what would not come back.
 * `hooks`: false for a value resolveToJSON made, whose objects' `toJSON`s are not to be called.
 */
export function encodeJson(value: unknown, op: string, key: string, hooks = true): string {
  try {
    return encodeChecked(value, op, key, hooks)
  } catch (error) {
    if (error instanceof SerializationError) throw error
    // A getter or a Proxy's trap of the value threw as it was read (by JSON or by the checks).
    throw new SerializationError(`${op} '${key}': reading the value threw (${messageOf(error)})`, {
      cause: error,
    })
  }
}

function encodeChecked(value: unknown, op: string, key: string, hooks: boolean): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    // A cycle or a BigInt: find which, and where (else a toJSON threw, or it is too deep).
    const problem = checked(value, op, key, [])
    const found = problem === NEGATIVE_ZERO ? undefined : problem
    throw rejected(op, key, found ?? ` cannot be encoded (${(error as Error).message})`, error)
  }
  const problem = text === undefined ? (checked(value, op, key) ?? ' is undefined') : checked(value, op, key)
  if (problem === HAS_TO_JSON) {
    if (hooks) return encodeResolved(value, op, key)
    // A class instance with a toJSON, kept by resolveToJSON as a toJSON's result: JSON would
    // not call that one.
    throw rejected(op, key, ' has a toJSON() that returns an object with a toJSON() of its own')
  }
  if (problem === NEGATIVE_ZERO) return stringifyKeepingNegativeZero(value)
  if (problem !== undefined) throw rejected(op, key, problem)
  return text!
}

/** findProblem, with a value nested deeper than the walk's stack a SerializationError too. */
function checked(value: unknown, op: string, key: string, ancestors?: object[]): string | undefined {
  try {
    return findProblem(value, ancestors)
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    throw rejected(op, key, ' is nested too deeply to be checked', error)
  }
}

export function decodeJson<V>(text: string | null | undefined, op: string, key: string): V | undefined {
  if (text === null || text === undefined) return undefined
  try {
    return JSON.parse(text) as V
  } catch (error) {
    throw new SerializationError(`${op} '${key}': stored value is not JSON`, { cause: error, stored: true })
  }
}

/** The codec of the `codec` option: ConfigError unless it has both functions. */
export function assertCodec(codec: unknown, where: string): Codec | undefined {
  if (codec === undefined) return undefined
  const candidate = codec as Partial<Codec> | null
  if (typeof candidate?.encode !== 'function' || typeof candidate.decode !== 'function') {
    throw invalidOption(
      `${where} must be an object with encode(value) and decode(text) functions, got ${describeValue(codec)}`,
    )
  }
  return codec as Codec
}

/**
 * Encodes with a user codec: its errors, anything but a string, and text Redis would not keep as
 * it is (a lone surrogate) become SerializationError.
 */
export function encodeWith(codec: Codec, value: unknown, op: string, key: string): string {
  let text: unknown
  try {
    text = codec.encode(value)
  } catch (error) {
    throw new SerializationError(`${op} '${key}': codec.encode failed`, { cause: error })
  }
  if (typeof text !== 'string') {
    throw new SerializationError(`${op} '${key}': codec.encode returned ${describeValue(text)}, not a string`)
  }
  // Refused on the memory topology too, which would keep it as it is: one answer everywhere.
  if (!isWellFormed(text)) {
    throw new SerializationError(`${op} '${key}': the text codec.encode returned ${LONE_SURROGATE_TEXT}`)
  }
  return text
}

/** Decodes with a user codec; a missing key stays undefined without calling it. */
export function decodeWith<V>(
  codec: Codec,
  text: string | null | undefined,
  op: string,
  key: string,
): V | undefined {
  if (text === null || text === undefined) return undefined
  try {
    return codec.decode(text) as V
  } catch (error) {
    throw new SerializationError(`${op} '${key}': codec.decode failed`, { cause: error, stored: true })
  }
}

/** Values to text and back for one primitive, with the operation and key for error messages. */
export interface TextCodec {
  encode(value: unknown, op: string, key: string): string
  decode<V>(text: string | null | undefined, op: string, key: string): V | undefined
}

const STRICT_JSON: TextCodec = { encode: encodeJson, decode: decodeJson }

/** Strict JSON, or the user's `codec` (checked by assertCodec). */
export function textCodec(codec: Codec | undefined): TextCodec {
  if (codec === undefined) return STRICT_JSON
  return {
    encode: (value, op, key) => encodeWith(codec, value, op, key),
    decode: (text, op, key) => decodeWith(codec, text, op, key),
  }
}
