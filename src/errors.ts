/**
 * Error classes with stable codes. Users can `instanceof` them or switch on `code`.
 * Messages name the operation and the key, never the value (values may be secrets).
 */

export type ErrorCode =
  | 'ERR_REDFLEET'
  | 'ERR_CONNECTION'
  | 'ERR_TIMEOUT'
  | 'ERR_SERIALIZATION'
  | 'ERR_CLOSED'
  | 'ERR_CONFIG'
  | 'ERR_COMMAND'
  | 'ERR_CONFLICT'
  | 'ERR_MISSING_CLIENT'

/** Base class of every error redfleet raises on purpose. */
export class RedfleetError extends Error {
  readonly code: ErrorCode
  constructor(message: string, options?: { cause?: unknown; code?: ErrorCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = options?.code ?? 'ERR_REDFLEET'
  }
}

/** Redis could not be reached, or the connection was lost before the reply came. */
export class ConnectionError extends RedfleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_CONNECTION' })
  }
}

/** A command got no reply within `commandTimeout` (or a connect within `connectTimeout`). */
export class TimeoutError extends RedfleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_TIMEOUT' })
  }
}

/** A value cannot be encoded (not JSON-able) or a stored value cannot be decoded. */
export class SerializationError extends RedfleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_SERIALIZATION' })
  }
}

/** The fleet (or the primitive) was closed; nothing more can be done with it. */
export class ClosedError extends RedfleetError {
  constructor(message: string) {
    super(message, { code: 'ERR_CLOSED' })
  }
}

/** Bad options, thrown synchronously by a factory. */
export class ConfigError extends RedfleetError {
  constructor(message: string) {
    super(message, { code: 'ERR_CONFIG' })
  }
}

/** Redis answered with an error reply (WRONGTYPE, bad arguments, ...). Never retried. */
export class CommandError extends RedfleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_COMMAND' })
  }
}

/** An optimistic update lost to concurrent writers more times than it may retry. */
export class ConflictError extends RedfleetError {
  constructor(message: string) {
    super(message, { code: 'ERR_CONFLICT' })
  }
}

/** `ioredis` is needed for a Redis topology but is not installed. */
export class MissingClientError extends RedfleetError {
  constructor(cause?: unknown) {
    super(
      "redfleet needs the 'ioredis' package to talk to Redis: run `npm install ioredis` " +
        '(the in-memory topology, used when no url is given, does not need it)',
      { cause, code: 'ERR_MISSING_CLIENT' },
    )
  }
}

const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)\b/

/** Transient failures are worth retrying: the same command may succeed a moment later. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ConnectionError || error instanceof TimeoutError) return true
  if (error instanceof CommandError) return TRANSIENT_REPLY.test(messageOf(error.cause))
  return false
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

const CONNECTION_FAILURE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|Connection is closed|Stream isn't writeable|Reached the max retries|max retries per request|Failed to refresh slots cache|None of startup nodes is available|enableOfflineQueue options is false|Command aborted due to connection close/i

/**
 * Translates whatever the client threw into a redfleet error naming `op` and `key`.
 * Reply errors from Redis become CommandError; the original is kept as `cause`.
 */
export function translateError(error: unknown, op: string, key?: string): unknown {
  if (error instanceof RedfleetError || error instanceof TypeError) return error
  const where = key === undefined ? op : `${op} '${key}'`
  const message = messageOf(error)
  if (/timed? ?out/i.test(message))
    return new TimeoutError(`${where} timed out: ${message}`, { cause: error })
  if (CONNECTION_FAILURE.test(message) || (error as { code?: string })?.code === 'ECONNREFUSED') {
    return new ConnectionError(`${where} failed: Redis is unreachable (${message})`, { cause: error })
  }
  if (error instanceof Error && error.name === 'ReplyError') {
    return new CommandError(`${where} failed: ${message}`, { cause: error })
  }
  return error
}
