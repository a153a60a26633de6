/**
 * What each public operation is, for the one operation runner (src/context.ts): whether
 * repeating it can change its outcome (SPEC §8).
 *
 * After a timeout, or a connection lost once a command was sent, nobody knows whether Redis
 * applied it. Repeating a `set` is harmless; repeating an `increment` counts twice. So the
 * runner retries an ambiguous failure only for operations that repeat safely, and rejects the
 * others with `outcome: 'unknown'`. A failure known not to have reached Redis (`'not-applied'`,
 * or an error reply such as LOADING) is retried for every operation.
 *
 * An operation that is made safe to repeat (an id that makes a second copy a no-op, a claim
 * that recognises its own win) is listed in SAFE_BY_ID instead of APPLIED_ONCE: the runner
 * treats it as repeatable, and the list says why that is true.
 */

/** Operations whose repetition would apply them twice: never re-sent after an ambiguous failure. */
const APPLIED_ONCE: ReadonlySet<string> = new Set([
  'store.increment',
  'store.setIfNotExists',
  'store.update',
  'cache.increment',
  'cache.decrement',
  'streams.publish',
  'streams.publishToChannel',
  'membership.send',
  'tracker.recoverOrphans',
  'broker.publish',
  'presence.publish',
])

/** Operations that carry an id (or token) that makes a repeat a no-op; repeatable for that reason. */
const SAFE_BY_ID: ReadonlySet<string> = new Set<string>([])

/** True when re-sending `op` after an ambiguous failure cannot change its outcome. */
export function repeatsSafely(op: string): boolean {
  return SAFE_BY_ID.has(op) || !APPLIED_ONCE.has(op)
}
