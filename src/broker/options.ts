import { invalidOption } from '../validate.ts'

/** Options shared by broker and presence, validated synchronously by the factory. */
export function assertOptions(what: string, options: unknown): asserts options is { onError?: unknown } {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null)
    throw invalidOption(`${what} options must be an object`)
  const { onError } = options as { onError?: unknown }
  if (onError !== undefined && typeof onError !== 'function') {
    throw invalidOption(`${what}: onError must be a function`)
  }
}
