import { type FleetContext, type OperationPolicy, runCommand } from '../context.ts'
import { OPERATIONS } from '../operations.ts'
import { resolveRetry } from '../retry.ts'
import { shortName } from './scope.ts'
import type { CacheOptions } from './types.ts'

export type CacheMethod = keyof typeof OPERATIONS.cache

/** The runner's operation names (`cache.<method>`), made once rather than on every call. */
export const CACHE_OPS = Object.fromEntries(
  Object.keys(OPERATIONS.cache).map((method) => [method, `cache.${method}`]),
) as Record<CacheMethod, string>

/**
 * Runs one Redis command of a cache method; see `cacheRunner`. `claims`: the command is a write
 * with `unlessExist`, whose repetition changes its answer (a resend finds its own earlier write
 * and says false): never re-sent after an ambiguous failure, as an increment is not.
 * `overtaken`: a later change of one of its keys was made (CallOrder.watch): never re-sent.
 */
export type RunCommand = <T>(
  method: CacheMethod,
  name: string | undefined,
  fn: () => Promise<T>,
  claims?: boolean,
  overtaken?: () => boolean,
) => Promise<T>

/**
 * The cache's commands go through the fleet's one operation runner (src/context.ts), untraced
 * (the cache traces each public call once, src/cache/instrument.ts): refused on
 * a closed fleet, errors translated naming the method and key, transient failures retried by what
 * the method is (an increment is never re-sent after an ambiguous failure: it fails with
 * `outcome: 'unknown'`). Failures go to the cache's errorHandler (Failsafe), once, with what the
 * call returns, so the runner's own onError is silent.
 */
export function cacheRunner(ctx: FleetContext, options: CacheOptions): RunCommand {
  const policy: OperationPolicy = { retry: resolveRetry(ctx.retry, options.retry), onError: () => {} }
  return (method, name, fn, claims, overtaken) =>
    runCommand(
      ctx,
      policy,
      // Not in OPERATIONS, so the runner treats it as 'once' (src/operations.ts).
      claims ? `${CACHE_OPS[method]} (unlessExist)` : CACHE_OPS[method],
      name === undefined ? undefined : shortName(name),
      fn,
      overtaken,
    )
}
