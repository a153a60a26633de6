import { messageOf, RedfleetError, SerializationError } from './errors.ts'
import { withoutRejections } from './hooks.ts'
import { assertCallOptions, assertFunction, describeValue, invalidArgument } from './validate.ts'
import { type FleetWarnings, warningsOf } from './warnings.ts'

/**
 * Wraps a primitive so that a failure of Redis (or of a closed fleet) never escapes: reads
 * resolve `undefined`, writes resolve as if done, and `onError` hears about it (the Convert
 * SDK's DataStoreManager behaviour), and so does a stored value that cannot be decoded (data
 * another program wrote). Programming errors (TypeError for a bad key, a value that cannot be
 * serialised) still throw: hiding them would hide bugs, not outages.
 */
export function failsafe<T extends object>(
  primitive: T,
  o: { onError?: ((e: unknown, op: string) => void) | undefined } = {},
): T {
  // new Proxy would throw a TypeError of its own ("Cannot create proxy with a non-object").
  if (typeof primitive !== 'object' || primitive === null) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `failsafe: the primitive must be an object, got ${describeValue(primitive)}`,
    )
  }
  assertCallOptions(o, 'failsafe', ['onError'])
  if (o.onError !== undefined) assertFunction(o.onError, 'onError', 'failsafe')
  const report = o.onError ? withoutRejections(o.onError) : warnThrough(warningsOf(primitive))
  return new Proxy(primitive, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || typeof property !== 'string') return value
      return (...args: unknown[]) => {
        let result: unknown
        try {
          result = value.apply(target, args)
        } catch (error) {
          return absorb(error, property, args)
        }
        return result instanceof Promise
          ? result.catch((error: unknown) => absorb(error, property, args))
          : result
      }
    },
  })

  function absorb(error: unknown, op: string, args: unknown[]): Promise<unknown> {
    if (!(error instanceof RedfleetError) || (error instanceof SerializationError && !error.stored)) {
      return Promise.reject(error)
    }
    try {
      report(error, op)
    } catch {
      // A throwing reporter must not turn a no-op back into a failure.
    }
    // Reads resolve undefined (a miss); writes resolve undefined too, which is "done".
    return Promise.resolve(Object.hasOwn(MISSES, op) ? MISSES[op]!(args) : undefined)
  }
}

/**
 * The default reporter: a RedfleetWarning through the primitive's fleet's warnings, which say a
 * node known down once when it went down and any other kind of failure once a while (SPEC §1:
 * never one per call; a frozen node's timeouts would otherwise warn at every call).
 */
function warnThrough(warnings: FleetWarnings): (e: unknown, op: string) => void {
  return (e, op) =>
    warnings.warn(
      op,
      e,
      `redfleet failsafe ${op}: ${e instanceof Error ? `${e.name}: ${e.message}` : messageOf(e)}`,
    )
}

/** Reads of several keys resolve one miss per key, in the shape the caller expects. */
const MISSES: Readonly<Record<string, (args: unknown[]) => unknown>> = {
  getMany: ([keys]) => (Array.isArray(keys) ? keys.map(() => undefined) : undefined),
}
