import { randomBytes } from 'node:crypto'
import type { RetryOptions } from '../retry.ts'
import {
  checkedWhereUsed,
  checkOptions,
  functionOption,
  invalidOption,
  nameOption,
  type OptionSchema,
  positiveInteger,
  retryOption,
} from '../validate.ts'

/** One job in flight under a tracker instance, as `inFlight`, `orphans` and `requeue` see it. */
export interface TrackedJob {
  /** The id given to `track`. */
  id: string
  /** The payload given to `track`, as it round-trips through JSON (`undefined` stays undefined). */
  payload: unknown
  /** The instance that was running it. */
  instanceId: string
  /** When `track` recorded it, in ms since the epoch (clock of the tracking process). */
  startedAt: number
}

/** Options of `fleet.tracker()` (SPEC §7). */
export interface TrackerOptions {
  /**
   * Identity of this worker instance; any non-empty string (':' and braces are fine).
   * Default: `REDFLEET_INSTANCE_ID`, else 16 random hex chars.
   */
  instanceId?: string | undefined
  /** Heartbeat period in ms. Default: `REDFLEET_HEARTBEAT_INTERVAL`, else 15_000 (at most heartbeatTtl / 3). */
  heartbeatInterval?: number | undefined
  /** How long one heartbeat keeps the instance live, in ms. Default: `REDFLEET_HEARTBEAT_TTL`, else 45_000. */
  heartbeatTtl?: number | undefined
  /**
   * How long a recoverer's claim on one orphan lasts, in ms (default 300_000). It must exceed the
   * time `requeue` takes: a claim that expires mid-requeue lets another recoverer hand the orphan out again.
   */
  recoveryLockTtl?: number | undefined
  /** Runs `recoverOrphans(requeue)` at start and then every `recoverEvery` ms while started; 0 = off (default). */
  recoverEvery?: number | undefined
  /** What `recoverEvery` hands each orphan to (required when `recoverEvery` > 0). */
  requeue?: ((job: TrackedJob) => Promise<void> | void) | undefined
  /** Tracking failures (the job itself is never affected), failed requeues and heartbeat failures. */
  onError?: ((e: unknown) => void) | undefined
  /** Retry policy of the tracker's Redis operations (default: the fleet's). */
  retry?: RetryOptions | undefined
}

export interface ResolvedTrackerOptions {
  instanceId: string
  heartbeatInterval: number
  heartbeatTtl: number
  recoveryLockTtl: number
  recoverEvery: number
  requeue: ((job: TrackedJob) => Promise<void> | void) | undefined
}

export const DEFAULT_HEARTBEAT_INTERVAL = 15_000
export const DEFAULT_HEARTBEAT_TTL = 45_000
export const DEFAULT_RECOVERY_LOCK_TTL = 300_000

type Env = Record<string, string | undefined>

/** A variable set to nothing (`REDFLEET_INSTANCE_ID=` in a compose file) counts as unset. */
function envValue(env: Env, name: string): string | undefined {
  const text = env[name]
  return text === undefined || text.trim() === '' ? undefined : text
}

/**
 * A number from the environment: only digits are accepted, so '15s' is a clear error. `check`
 * is the check of the option it stands for (a timer's delay is bounded), so a value the option
 * refuses is refused from the environment too.
 */
function fromEnv(env: Env, name: string, check: { delay?: boolean } = {}): number | undefined {
  const text = envValue(env, name)
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text.trim())) {
    throw invalidOption(
      `tracker: ${name} must be a positive integer of milliseconds, got ${JSON.stringify(text)}`,
    )
  }
  return positiveInteger(`tracker: ${name}`, Number(text), check)
}

/** An instance id is bounded as a key is, though it is stored in index values, never in a key. */
function instanceIdOption(id: unknown, source: string): string {
  nameOption(id, `tracker: ${source}`)
  return id as string
}

/** Every option a tracker takes; resolveTrackerOptions checks their values. */
const TRACKER_OPTIONS: OptionSchema = {
  instanceId: checkedWhereUsed,
  heartbeatInterval: checkedWhereUsed,
  heartbeatTtl: checkedWhereUsed,
  recoveryLockTtl: checkedWhereUsed,
  recoverEvery: checkedWhereUsed,
  requeue: checkedWhereUsed,
  onError: checkedWhereUsed,
  retry: retryOption,
}

/**
 * Options win over the environment, the environment over the defaults. Every problem is a
 * ConfigError thrown by the factory, before anything runs.
 */
export function resolveTrackerOptions(
  options: TrackerOptions,
  env: Env = process.env,
): ResolvedTrackerOptions {
  checkOptions(options, TRACKER_OPTIONS, { what: 'tracker options' })
  const instanceId =
    options.instanceId !== undefined
      ? instanceIdOption(options.instanceId, 'instanceId')
      : envValue(env, 'REDFLEET_INSTANCE_ID') !== undefined
        ? instanceIdOption(envValue(env, 'REDFLEET_INSTANCE_ID'), 'REDFLEET_INSTANCE_ID')
        : randomBytes(8).toString('hex')
  const heartbeatTtl =
    options.heartbeatTtl !== undefined
      ? positiveInteger('tracker: heartbeatTtl', options.heartbeatTtl)
      : (fromEnv(env, 'REDFLEET_HEARTBEAT_TTL') ?? DEFAULT_HEARTBEAT_TTL)
  // A short ttl with the default interval would let the instance expire between beats.
  const heartbeatInterval =
    options.heartbeatInterval !== undefined
      ? positiveInteger('tracker: heartbeatInterval', options.heartbeatInterval, { delay: true })
      : (fromEnv(env, 'REDFLEET_HEARTBEAT_INTERVAL', { delay: true }) ??
        Math.max(1, Math.min(DEFAULT_HEARTBEAT_INTERVAL, Math.floor(heartbeatTtl / 3))))
  if (heartbeatInterval >= heartbeatTtl) {
    throw invalidOption(
      `tracker: heartbeatInterval (${heartbeatInterval}) must be shorter than heartbeatTtl (${heartbeatTtl}), ` +
        'or the instance would expire between two heartbeats',
    )
  }
  const recoveryLockTtl =
    options.recoveryLockTtl === undefined
      ? DEFAULT_RECOVERY_LOCK_TTL
      : positiveInteger('tracker: recoveryLockTtl', options.recoveryLockTtl)
  const recoverEvery =
    options.recoverEvery === undefined
      ? 0
      : positiveInteger('tracker: recoverEvery', options.recoverEvery, { zero: true, delay: true })
  if (options.requeue !== undefined) functionOption(options.requeue, 'tracker: requeue')
  if (recoverEvery > 0 && options.requeue === undefined) {
    throw invalidOption('tracker: recoverEvery needs a requeue function to hand the orphans to')
  }
  if (options.onError !== undefined) functionOption(options.onError, 'tracker: onError')
  return {
    instanceId,
    heartbeatInterval,
    heartbeatTtl,
    recoveryLockTtl,
    recoverEvery,
    requeue: options.requeue,
  }
}
