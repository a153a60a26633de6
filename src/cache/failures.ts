import { AsyncLocalStorage } from 'node:async_hooks'

/** Told of each failure the cache's failsafe absorbs: the method and the error. */
export type FailureListener = (method: string, error: unknown) => void

/**
 * Lets an integration learn of the failures its own calls absorbed (the Keyv adapter emits them
 * as 'error' events, as Keyv's contract asks), besides the cache's errorHandler. A context, not a
 * cache-wide listener: failures of other callers of the same cache are never attributed to it.
 */
export const absorbedFailures = new AsyncLocalStorage<FailureListener>()
