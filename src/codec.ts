import { SerializationError } from './errors.ts'

/**
 * JSON encoding for Store values. JSON silently turns some values into something else
 * (functions vanish, NaN becomes null, BigInt throws late); we reject them up front so that
 * what is read back is exactly what was written, and nothing is written when a value is bad.
 */
export function encodeJson(value: unknown, op: string, key: string): string {
  if (value === undefined) throw new SerializationError(`${op} '${key}': undefined cannot be stored as JSON`)
  let text: string | undefined
  try {
    text = JSON.stringify(value, (_name, inner: unknown) => {
      switch (typeof inner) {
        case 'function':
        case 'symbol':
        case 'bigint':
          throw new SerializationError(`${op} '${key}': a ${typeof inner} cannot be stored as JSON`)
        case 'number':
          if (!Number.isFinite(inner)) {
            throw new SerializationError(`${op} '${key}': ${inner} cannot be stored as JSON`)
          }
      }
      return inner
    })
  } catch (error) {
    if (error instanceof SerializationError) throw error
    // JSON.stringify throws TypeError for cycles.
    throw new SerializationError(
      `${op} '${key}': value cannot be stored as JSON (${(error as Error).message})`,
      {
        cause: error,
      },
    )
  }
  if (text === undefined) throw new SerializationError(`${op} '${key}': value cannot be stored as JSON`)
  return text
}

export function decodeJson<V>(text: string | null | undefined, op: string, key: string): V | undefined {
  if (text === null || text === undefined) return undefined
  try {
    return JSON.parse(text) as V
  } catch (error) {
    throw new SerializationError(`${op} '${key}': stored value is not JSON`, { cause: error })
  }
}
