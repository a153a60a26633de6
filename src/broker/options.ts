import { ConfigError } from '../errors.ts'
import { MAX_KEY_BYTES } from '../keyspace.ts'

/** Options shared by broker and presence, validated synchronously by the factory. */
export function assertOptions(what: string, options: unknown): asserts options is { onError?: unknown } {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null)
    throw new ConfigError(`${what} options must be an object`)
  const { onError } = options as { onError?: unknown }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new ConfigError(`${what}: onError must be a function`)
  }
}

/**
 * A channel or room name: a non-empty string of at most 1024 UTF-8 bytes. `fail` makes the
 * error: ConfigError for an option, TypeError for an argument.
 */
export function assertName(
  name: unknown,
  what: string,
  fail: (message: string) => Error,
): asserts name is string {
  if (typeof name !== 'string') throw fail(`${what} must be a string, got ${typeof name}`)
  if (name.length === 0) throw fail(`${what} must not be empty`)
  const bytes = Buffer.byteLength(name)
  if (bytes > MAX_KEY_BYTES) throw fail(`${what} is ${bytes} bytes, more than the ${MAX_KEY_BYTES} allowed`)
}
