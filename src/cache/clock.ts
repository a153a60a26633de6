/**
 * The cache's notion of "now" (epoch ms). Expiry is decided against the time embedded in each
 * entry, so tests can move this clock (Rails' `travel`) without waiting for real time; Redis
 * TTLs stay real-time memory bounds. Internal: the key is a symbol that is not exported from the
 * package, so it is no part of the public API.
 */
export type Clock = () => number

export const CACHE_CLOCK: unique symbol = Symbol.for('redfleet.cache.clock')

export function clockOf(options: object): Clock {
  const clock = (options as { [CACHE_CLOCK]?: unknown })[CACHE_CLOCK]
  return typeof clock === 'function' ? (clock as Clock) : Date.now
}
