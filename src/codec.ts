import { SerializationError } from './errors.ts'

/**
 * Finds what JSON.stringify would silently change or drop: a function or symbol (vanishes), a
 * non-finite number (becomes null). Runs after JSON.stringify succeeded, so there is no cycle
 * to guard against. Objects with their own `toJSON` (Date, ...) are trusted to serialise.
 */
function findUnrepresentable(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : String(value)
    case 'object': {
      if (value === null || typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined
      // Plain loops: this runs on every write, and Object.values would allocate.
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const found = findUnrepresentable(value[i])
          if (found !== undefined) return found
        }
        return undefined
      }
      for (const name in value) {
        const found = findUnrepresentable((value as Record<string, unknown>)[name])
        if (found !== undefined) return found
      }
      return undefined
    }
    default:
      return `a ${typeof value}`
  }
}

/**
 * JSON encoding for Store values. JSON silently turns some values into something else
 * (functions vanish, NaN becomes null, BigInt throws late); we reject them up front so that
 * what is read back is exactly what was written, and nothing is written when a value is bad.
 * Plain JSON.stringify plus a type walk is over twice as fast as a replacer function.
 */
export function encodeJson(value: unknown, op: string, key: string): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    // Cycles and BigInt throw TypeError here.
    throw new SerializationError(
      `${op} '${key}': value cannot be stored as JSON (${(error as Error).message})`,
      {
        cause: error,
      },
    )
  }
  const bad =
    text === undefined
      ? `${value === undefined ? 'undefined' : `a ${typeof value}`}`
      : findUnrepresentable(value)
  if (bad !== undefined) throw new SerializationError(`${op} '${key}': ${bad} cannot be stored as JSON`)
  return text!
}

export function decodeJson<V>(text: string | null | undefined, op: string, key: string): V | undefined {
  if (text === null || text === undefined) return undefined
  try {
    return JSON.parse(text) as V
  } catch (error) {
    throw new SerializationError(`${op} '${key}': stored value is not JSON`, { cause: error })
  }
}
