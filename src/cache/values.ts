import { messageOf, SerializationError } from '../errors.ts'
import { describeValue } from '../validate.ts'

/**
 * JSON with type tags, so that what a cache hands back is what was put in: Date, Map, Set,
 * BigInt, Buffer, Uint8Array, NaN/±Infinity, -0, `undefined` inside containers and holes in
 * arrays survive the trip. A value nested deeper than the stack allows is refused. What JSON
 * drops unseen and no check here looks for (to keep the common path free of allocation): an
 * array's named properties and symbol-keyed properties.
 *
 * A tagged value is an object whose only meaningful key is `$rf` (plus `v`). A user object that
 * happens to have an own `$rf` key is itself wrapped (tag 'O'), so no user data is ever read as
 * a tag. Plain JSON (the common case) is left untouched and decoded without a second walk:
 * `encodeValue` says whether it emitted any tag and the envelope keeps that bit.
 */

const TAG = '$rf'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

interface Encoded {
  json: string
  /** True when the text holds tags and needs `reviveValue` after `JSON.parse`. */
  typed: boolean
}

export function encodeValue(value: unknown, where: string): Encoded {
  const plain = plainJsonText(value)
  return plain !== undefined ? { json: plain, typed: false } : encodeTagged(value, where)
}

/** The careful path of encodeValue's walk: whether it emitted a tag, and the objects it is inside. */
interface EncodeState {
  typed: boolean
  seen: Set<object>
}

/** The careful path of encodeValue, for a value plainJsonText refused: copied, tagged, then written. */
export function encodeTagged(value: unknown, where: string): Encoded {
  const state: EncodeState = { typed: false, seen: new Set<object>() }
  try {
    const tree = toJson(value, state, where)
    // A toJSON that answered undefined leaves nothing to cache, as a top-level undefined would.
    if (tree === UNDEFINED && value !== undefined) {
      throw new SerializationError(
        `${where}: ${describeValue(value)}'s toJSON() returned undefined: nothing to cache`,
      )
    }
    return { json: JSON.stringify(tree), typed: state.typed }
  } catch (error) {
    if (error instanceof SerializationError) throw error
    // The walk (or JSON.stringify) ran out of stack.
    if (error instanceof RangeError) {
      throw new SerializationError(`${where}: a value nested this deeply cannot be cached`, { cause: error })
    }
    // A getter or a Proxy's trap of the value threw as the walk read it.
    throw new SerializationError(`${where}: reading the value threw (${messageOf(error)})`, { cause: error })
  }
}

/**
 * The fast path of encodeValue: plain JSON data (the common case) goes straight to JSON.stringify,
 * after a walk that only reads; undefined for anything else, which takes the careful path, which
 * copies and tags.
 */
export function plainJsonText(value: unknown): string | undefined {
  try {
    return isPlainJson(value, 0) ? JSON.stringify(value) : undefined
  } catch {
    // A getter or a Proxy's trap threw: the careful path reads it again and says so.
    return undefined
  }
}

/** Max depth the fast path checks; deeper (or cyclic) values take the careful path. */
const FAST_DEPTH = 64

function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0)
    case 'object':
      break
    default:
      return false
  }
  if (value === null) return true
  if (depth > FAST_DEPTH) return false
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false
    // A hole reads as undefined here: the careful path keeps it.
    for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false
    return true
  }
  const proto = Object.getPrototypeOf(value)
  // Date, Map, Set, Buffer, class instances (toJSON) are not plain.
  if (proto !== Object.prototype && proto !== null) return false
  if (Object.hasOwn(value, TAG)) return false
  // for-in: no array of names per object (the prototype is Object.prototype or null: no inherited names).
  for (const key in value) {
    if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false
  }
  return true
}

/** undefined, tagged (one object: encodeTagged tells it at the top). */
const UNDEFINED: Json = { [TAG]: 'U' }

function tagged(state: { typed: boolean }, tag: string, v?: Json): Json {
  state.typed = true
  return v === undefined ? { [TAG]: tag } : { [TAG]: tag, v }
}

/**
 * `value` as JSON with tags. `key`: what JSON.stringify would tell a `toJSON` of it (the property
 * name, an array index, '' at the top). Only the exact built-in types are tagged: a subclass of
 * Array, Map, Set, Date or Uint8Array would come back as its base class, so it is taken as any
 * other class instance (a Date's subclass inherits its toJSON).
 */
function toJson(value: unknown, state: EncodeState, where: string, key = ''): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      // JSON writes -0 as 0: tagged, like NaN and ±Infinity.
      if (Number.isFinite(value) && !Object.is(value, -0)) return value
      return tagged(state, 'N', Object.is(value, -0) ? '-0' : String(value))
    case 'bigint':
      return tagged(state, 'I', value.toString())
    case 'undefined':
      state.typed = true
      return UNDEFINED
    case 'function':
    case 'symbol':
      throw new SerializationError(`${where}: a ${typeof value} cannot be cached`)
  }
  if (value === null) return null
  const object = value as object
  if (state.seen.has(object)) throw new SerializationError(`${where}: a value with a cycle cannot be cached`)
  state.seen.add(object)
  try {
    const proto = Object.getPrototypeOf(object)
    if (proto === Array.prototype) return arrayToJson(object as unknown[], state, where)
    if (proto === Date.prototype) {
      const time = (object as Date).getTime()
      return tagged(state, 'D', Number.isNaN(time) ? null : time)
    }
    if (Buffer.isBuffer(object)) return tagged(state, 'B', object.toString('base64'))
    if (proto === Uint8Array.prototype) {
      const bytes = object as Uint8Array
      return tagged(
        state,
        'u8',
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
      )
    }
    if (proto === Map.prototype) {
      return tagged(
        state,
        'M',
        [...(object as Map<unknown, unknown>)].map(([k, v]) => [
          toJson(k, state, where),
          toJson(v, state, where),
        ]),
      )
    }
    if (proto === Set.prototype) {
      return tagged(
        state,
        'S',
        [...(object as Set<unknown>)].map((v) => toJson(v, state, where)),
      )
    }
    if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
      return toJson(callToJSON(object as { toJSON(key: string): unknown }, key, where), state, where, key)
    }
    if (proto !== Object.prototype && proto !== null) {
      // It would come back a plain object ({} for a Promise or a WeakMap) or array, its class lost.
      const plain = Array.isArray(object) ? 'a plain array' : 'a plain object'
      throw new SerializationError(
        `${where}: ${describeValue(object)} cannot be cached (it would come back as ${plain}): ` +
          'cache plain data, or give it a toJSON',
      )
    }
    const out: { [key: string]: Json } = {}
    for (const name of Object.keys(object)) {
      assign(out, name, toJson((object as Record<string, unknown>)[name], state, where, name))
    }
    return Object.hasOwn(object, TAG) ? tagged(state, 'O', out) : out
  } finally {
    state.seen.delete(object)
  }
}

function callToJSON(object: { toJSON(key: string): unknown }, key: string, where: string): unknown {
  try {
    return object.toJSON(key)
  } catch (error) {
    throw new SerializationError(`${where}: ${describeValue(object)}'s toJSON() threw`, { cause: error })
  }
}

/** An array's elements, its holes tagged (JSON would write null). */
function arrayToJson(array: unknown[], state: EncodeState, where: string): Json {
  const out = new Array<Json>(array.length)
  for (let i = 0; i < array.length; i++) {
    out[i] = i in array ? toJson(array[i], state, where, String(i)) : tagged(state, 'H')
  }
  return out
}

/** A copy of a value the cache can hold, as a read of it would hand it out. */
export function copyValue(value: unknown, where: string): unknown {
  if (typeof value !== 'object' || value === null) return value
  const { json, typed } = encodeValue(value, where)
  const tree: unknown = JSON.parse(json)
  return typed ? reviveValue(tree) : tree
}

/** Turns the tags of a parsed tree back into the values they stand for. */
export function reviveValue(tree: unknown): unknown {
  if (tree === null || typeof tree !== 'object') return tree
  if (Array.isArray(tree)) return reviveArray(tree)
  const object = tree as Record<string, unknown>
  const tag = object[TAG]
  if (typeof tag !== 'string') {
    reviveProperties(object)
    return object
  }
  const v = object.v
  switch (tag) {
    case 'U':
      return undefined
    case 'N':
      return Number(v)
    case 'I':
      return BigInt(v as string)
    case 'D':
      return new Date(v === null ? Number.NaN : (v as number))
    case 'B':
      return Buffer.from(v as string, 'base64')
    case 'u8':
      return new Uint8Array(Buffer.from(v as string, 'base64'))
    case 'M':
      return new Map((v as [unknown, unknown][]).map(([k, value]) => [reviveValue(k), reviveValue(value)]))
    case 'S':
      return new Set((v as unknown[]).map(reviveValue))
    case 'O': {
      reviveProperties(v as Record<string, unknown>)
      return v
    }
    default:
      throw new SerializationError(`unknown cached value tag ${JSON.stringify(tag)}`)
  }
}

/** The array a tree stands for: a hole tag leaves a hole, not an undefined element. */
function reviveArray(tree: unknown[]): unknown[] {
  const out = new Array<unknown>(tree.length)
  for (let i = 0; i < tree.length; i++) {
    const item = tree[i]
    if (!isHole(item)) out[i] = reviveValue(item)
  }
  return out
}

function isHole(item: unknown): boolean {
  return typeof item === 'object' && item !== null && (item as Record<string, unknown>)[TAG] === 'H'
}

function reviveProperties(object: Record<string, unknown>): void {
  for (const key of Object.keys(object)) {
    const before = object[key]
    const after = reviveValue(before)
    if (after !== before || after === undefined) assign(object, key, after)
  }
}

/** Sets an own property; a plain assignment of `__proto__` would change the prototype instead. */
function assign(object: object, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    ;(object as Record<string, unknown>)[key] = value
  }
}
