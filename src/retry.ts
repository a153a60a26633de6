import { isTransient } from './errors.ts'

/** Backoff policy for transient failures (SPEC §8). */
export interface RetryOptions {
  /** Attempts including the first; default 3. */
  attempts?: number
  /** First delay in ms; default 50. */
  base?: number
  /** Growth per attempt; default 2. */
  factor?: number
  /** Upper bound of one delay in ms; default 2000. */
  max?: number
  /** Fraction of each delay that is randomised, 0..1; default 0.5. */
  jitter?: number
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
  return retryWithPolicy(fn, resolveRetry(options), options.onError, options.clock)
}

/** How the retry loop judges a failure: `translate` maps it first, `retryable` decides. */
export interface FailureJudge {
  translate?: (e: unknown) => unknown
  retryable?: (e: unknown) => boolean
}

/**
 * The retry loop with an already-resolved policy: the hot path of every operation, so it
 * allocates nothing until something fails. A failure is translated, then retried while
 * `retryable` (default: transient) says so and attempts remain.
 */
export function retryWithPolicy<T>(
  fn: () => Promise<T>,
  policy: Required<RetryOptions>,
  onError: ((e: unknown) => void) | undefined,
  clock: RetryClock = realClock,
  judge: FailureJudge = {},
): Promise<T> {
  const { translate = (e: unknown) => e, retryable = isTransient } = judge
  const failed = async (raw: unknown): Promise<T> => {
    let error = translate(raw)
    for (let attempt = 1; attempt < policy.attempts && retryable(error); attempt++) {
      await clock.sleep(backoffDelay(attempt, policy, clock.random))
      try {
        return await fn()
      } catch (next) {
        error = translate(next)
      }
    }
    try {
      onError?.(error)
    } catch {
      // SPEC §2: a throwing onError is ignored; the original error is what the caller gets.
    }
    throw error
  }
  try {
    return fn().catch(failed)
  } catch (error) {
    return failed(error)
  }
}
