import { withDeadline as within } from '../deadline.ts'
import { TimeoutError } from '../errors.ts'

/**
 * Rejects with TimeoutError when `work` has not settled after `ms`: a dashboard must say that
 * Redis is unreachable within one refresh, even when a connection hangs instead of failing.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return within(work, ms, () => new TimeoutError(`dashboard: ${what} took more than ${ms} ms`))
}

/**
 * How long the dashboard waits for one read of the fleet before it reports Redis unreachable:
 * a refresh interval, or three command timeouts when those are longer (a read is a few rounds).
 */
export function readDeadline(interval: number, commandTimeout: number): number {
  return Math.max(interval, commandTimeout * 3)
}

/**
 * How long each part of one read (a node's INFO, the members, a stream) may take: four fifths of
 * the read's deadline, so that the parts still unread by then are shown as such (`unavailable`)
 * before the request itself gives up on the whole read.
 */
export function partDeadline(readDeadline: number): number {
  return Math.floor((readDeadline * 4) / 5)
}
