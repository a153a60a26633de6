import { TimeoutError } from '../errors.ts'

/**
 * Rejects with TimeoutError when `work` has not settled after `ms`: a dashboard must say that
 * Redis is unreachable within one refresh, even when a connection hangs instead of failing.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`dashboard: ${what} took more than ${ms} ms`)), ms)
  })
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}
