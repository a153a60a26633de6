/**
 * Calls `deliver` with each of `listeners` as they were when a message arrived: one added during
 * the delivery (a listener subscribing another to wait for a reply) gets the next message, as on
 * the memory topology, not this one (helper-309: it got the request it was added for, and a
 * listener adding one per call looped for ever); one removed during it is skipped.
 */
export function forEachListener<L>(listeners: ReadonlySet<L>, deliver: (listener: L) => void): void {
  if (listeners.size === 1) {
    // The only one, without a copy (the common case): a listener it adds is not visited.
    for (const only of listeners) {
      deliver(only)
      return
    }
  }
  for (const listener of [...listeners]) if (listeners.has(listener)) deliver(listener)
}
