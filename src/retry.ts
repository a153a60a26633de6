import { setImmediate as turnOfTheLoop } from 'node:timers/promises'
import { afterDoubt, isAmbiguous, isTransientFailure } from './errors.ts'
import { withoutRejections } from './hooks.ts'
import { assertFunction, checkedWhereUsed, checkOptions, functionOption, RETRY_OPTIONS } from './validate.ts'

/** Backoff policy for transient failures (SPEC §8). */
export interface RetryOptions {
  /** Attempts including the first; default 3. */
  attempts?: number | undefined
  /** First delay in ms; default 50. */
  base?: number | undefined
  /** Growth per attempt; default 2. */
  factor?: number | undefined
  /** Upper bound of one delay in ms; default 2000. */
  max?: number | undefined
  /** Fraction of each delay that is randomised, 0..1; default 0.5. */
  jitter?: number | undefined
}

/** Injectable time and randomness, so tests can drive the policy deterministically. */
export interface RetryClock {
  sleep(ms: number): Promise<void>
  random(): number
}

const realClock: RetryClock = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
}

export const DEFAULT_RETRY: Required<RetryOptions> = {
  attempts: 3,
  base: 50,
  factor: 2,
  max: 2000,
  jitter: 0.5,
}

/** The delay before attempt `n + 1` (n counts from 1): exponential, capped, with part of it random. */
export function backoffDelay(n: number, policy: Required<RetryOptions>, random: () => number): number {
  const full = Math.min(policy.max, policy.base * policy.factor ** (n - 1))
  return full * (1 - policy.jitter) + full * policy.jitter * random()
}

export function resolveRetry(...layers: (RetryOptions | undefined)[]): Required<RetryOptions> {
  const policy = { ...DEFAULT_RETRY }
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer ?? {})) {
      if (value !== undefined) policy[name as keyof RetryOptions] = value
    }
  }
  return policy
}

/**
 * Runs `fn`, retrying transient failures (connection lost, timeout, LOADING, BUSY, cluster
 * redirection storms) with exponential backoff. Command errors fail at once. After the last
 * attempt `onError` is called once (a throwing `onError` is ignored) and the error is rethrown.
 */
export function retry<T>(
  fn: () => Promise<T>,
  options: RetryOptions & { onError?: (e: unknown) => void; clock?: RetryClock } = {},
): Promise<T> {
  try {
    assertFunction(fn, 'fn', 'retry')
    checkOptions(options, RETRY_CALL_OPTIONS, { what: 'retry options' })
  } catch (error) {
    return Promise.reject(error)
  }
  const onError = options.onError && withoutRejections(options.onError)
  return retryWithPolicy(fn, resolveRetry(options), onError, options.clock)
}

const RETRY_CALL_OPTIONS = { ...RETRY_OPTIONS, onError: functionOption, clock: checkedWhereUsed }

/** How the retry loop judges a failure: `translate` maps it first, `retryable` decides. */
export interface FailureJudge {
  translate(e: unknown): unknown
  retryable(e: unknown): boolean
}

/** `retry`'s judge: transient failures of redfleet or of a Redis client, rethrown as they were. */
const TRANSIENT: FailureJudge = { translate: (e) => e, retryable: isTransientFailure }

/**
 * The retry loop with an already-resolved policy: the hot path of every operation, so a call
 * that succeeds costs one await and nothing of the retry machinery.
 */
export async function retryWithPolicy<T>(
  fn: () => Promise<T>,
  policy: Required<RetryOptions>,
  onError: ((e: unknown) => void) | undefined,
  clock: RetryClock = realClock,
  judge: FailureJudge = TRANSIENT,
): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    return retryAfter(error, fn, policy, onError, judge, clock)
  }
}

/**
 * The rest of the retry loop once `fn` has failed with `first`: the failure is translated, then
 * `fn` is run again while `retryable` says so and attempts remain. After the last attempt
 * `onError` is called once (a throwing `onError` is ignored) and the error is rethrown.
 */
export async function retryAfter<T>(
  first: unknown,
  fn: () => Promise<T>,
  policy: Required<RetryOptions>,
  onError: ((e: unknown) => void) | undefined,
  judge: FailureJudge,
  clock: RetryClock = realClock,
): Promise<T> {
  let error = judge.translate(first)
  // The first attempt that may have been applied: a later failure must not hide it (SPEC §8).
  let doubt = isAmbiguous(error) ? error : undefined
  for (let attempt = 1; attempt < policy.attempts && judge.retryable(error); attempt++) {
    await clock.sleep(backoffDelay(attempt, policy, clock.random))
    // Asked again after the backoff: what may have changed meanwhile (a later call overtook it).
    if (!judge.retryable(error)) break
    try {
      return await fn()
    } catch (next) {
      error = judge.translate(next)
      if (doubt === undefined && isAmbiguous(error)) doubt = error
    }
  }
  if (doubt !== undefined) error = afterDoubt(error, doubt)
  try {
    onError?.(error)
  } catch {
    // SPEC §2: a throwing onError is ignored; the original error is what the caller gets.
  }
  const turn = turnIfSpinning()
  if (turn) await turn
  throw error
}

/**
 * How many failures are told at once within one turn of the event loop. A failure refused
 * without I/O (a node known down fails fast, SPEC §8) reaches a caller that may try again at once,
 * within the same run of microtasks, for ever: a few workers polling in a loop starved their own
 * event loop, so no timer ran and the reconnect that ends the outage never came. Past this many,
 * a failure is told once the loop has turned. Fewer are told at once: a failsafe read answers in
 * microseconds during an outage (SPEC §8), not a turn of a busy loop later.
 */
export const SPIN_LIMIT = 100
/** Failures told since the event loop last turned (reset by an immediate: see turnIfSpinning). */
let toldThisTurn = 0
let resetting = false

/**
 * `error` as a rejection, told as retryAfter tells a failure: at once, or once the event loop has
 * turned when many are told in one turn (SPIN_LIMIT). For calls refused without an attempt (the
 * fleet is closed), which a loop calling again at once would otherwise spin on for ever.
 */
export function toldFailure(error: unknown): Promise<never> {
  const turn = turnIfSpinning()
  return turn === undefined ? Promise.reject(error) : turn.then(() => Promise.reject(error))
}

/**
 * Nothing (tell the failure now), or a turn of the event loop to wait for first: see SPIN_LIMIT.
 * Also for failures told without a rejection (a broker publish resolves when Redis fails).
 */
export function turnIfSpinning(): Promise<void> | undefined {
  if (!resetting) {
    resetting = true
    setImmediate(() => {
      toldThisTurn = 0
      resetting = false
    }).unref()
  }
  return ++toldThisTurn <= SPIN_LIMIT ? undefined : turnOfTheLoop()
}
