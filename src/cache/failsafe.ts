import { inspect } from 'node:util'
import { ClosedError, ConfigError, messageOf, RedfleetError } from '../errors.ts'
import { withoutRejections } from '../hooks.ts'
import type { FleetWarnings } from '../warnings.ts'
import { absorbedFailures } from './failures.ts'
import type { CacheOptions, CacheStats } from './types.ts'

export type ErrorHandler = NonNullable<CacheOptions['errorHandler']>

/**
 * True for the failures Rails' failsafe absorbs: failures of Redis (connection, timeout,
 * command error, a corrupt entry). Programming errors (TypeError, a value that cannot be
 * serialised), a configuration that cannot work (ConfigError: `cluster: true` against a server
 * that is not a cluster, SPEC §1's "every call fails") and use after close are never absorbed:
 * they reject, or a misconfigured deployment would only ever miss.
 */
export function isAbsorbable(error: unknown): boolean {
  return error instanceof RedfleetError && !(error instanceof ClosedError) && !(error instanceof ConfigError)
}

/**
 * Rails' failsafe (SPEC §3): a failure of Redis goes to `errorHandler` with the method and the
 * value returned instead, and the call returns that value. An errorHandler that throws makes the
 * call reject with what it threw.
 */
export class Failsafe {
  readonly #handler: ErrorHandler
  readonly #stats: CacheStats

  /** `warnings`: the fleet's, where the default errorHandler warns (FleetWarnings). */
  constructor(handler: ErrorHandler | undefined, stats: CacheStats, warnings: FleetWarnings) {
    this.#handler = handler ? withoutRejections(handler) : defaultErrorHandler(warnings)
    this.#stats = stats
  }

  /** Reports one failure of `method`, which returns `returning`; rethrows what is not absorbable. */
  absorb(method: string, returning: unknown, error: unknown): void {
    if (!isAbsorbable(error)) throw error
    this.#stats.errors++
    absorbedFailures.getStore()?.(method, error)
    this.#handler({ method, returning, exception: error })
  }

  /**
   * Runs `fn`; on an absorbable failure reports it and resolves `returning`. Not an async
   * function: on every cache call's path, where an async layer costs a promise and a turn.
   */
  guard<T>(method: string, returning: T, fn: () => Promise<T>, reported: unknown = returning): Promise<T> {
    let pending: Promise<T>
    try {
      pending = fn()
    } catch (error) {
      pending = Promise.reject(error)
    }
    return pending.catch((error: unknown) => {
      this.absorb(method, reported, error)
      return returning
    })
  }
}

function defaultErrorHandler(warnings: FleetWarnings): ErrorHandler {
  return (info) =>
    warnings.warn(
      `cache.${info.method}`,
      info.exception,
      `redfleet cache.${info.method} failed, returned ${inspect(info.returning)}: ${messageOf(info.exception)}`,
    )
}
