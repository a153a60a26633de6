/**
 * Error classes with stable codes. Users can `instanceof` them or switch on `code`.
 * Messages name the operation and the key, never the value (values may be secrets).
 */
import { inspect } from 'node:util'

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
  | 'ERR_DURABILITY'
  | ConfigErrorCode

/** What a ConfigError is about (the generic ERR_CONFIG where no finer code applies). */
export type ConfigErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_UNKNOWN_OPTION'
  | 'ERR_INVALID_OPTION'
  | 'ERR_CONFLICTING_OPTIONS'
  | 'ERR_MEMORY_IN_PRODUCTION'
  | 'ERR_NOT_A_CLUSTER'
  | 'ERR_IS_A_CLUSTER'

/** Base class of every error redfleet raises on purpose. */
export class RedfleetError extends Error {
  readonly code: ErrorCode
  constructor(message: string, options?: { cause?: unknown; code?: ErrorCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = options?.code ?? 'ERR_REDFLEET'
  }
}

/**
 * What a failed call may have done to Redis (SPEC §8): `'not-applied'` when the command is known
 * never to have reached Redis (the node was known to be down, the connection was refused), or
 * `'unknown'` when it may have been applied (a timeout, or a connection lost after sending).
 */
export type Outcome = 'unknown' | 'not-applied'

/** Redis could not be reached, or the connection was lost before the reply came. */
export class ConnectionError extends RedfleetError {
  readonly outcome: Outcome
  constructor(message: string, options?: { cause?: unknown; outcome?: Outcome }) {
    super(message, { cause: options?.cause, code: 'ERR_CONNECTION' })
    this.outcome = options?.outcome ?? 'unknown'
  }
}

/**
 * A call routed to a node known to be down (its last connection attempts failed, SPEC §8): it
 * was never sent (`outcome: 'not-applied'`) and is not retried, because the node is probed in
 * the background and calls go through again as soon as a probe reconnects. `node` is `host:port`.
 * A multi-node call whose other parts were sent is `'unknown'` instead (partlyApplied).
 */
export class NodeDownError extends ConnectionError {
  readonly node: string
  constructor(message: string, node: string, options?: { cause?: unknown; outcome?: Outcome }) {
    super(message, { cause: options?.cause, outcome: options?.outcome ?? 'not-applied' })
    this.node = node
  }
}

/**
 * A command got no reply within `commandTimeout` (or a connect within `connectTimeout`).
 * Redis may still have applied it: `outcome` is `'unknown'` unless the command was never sent.
 */
export class TimeoutError extends RedfleetError {
  readonly outcome: Outcome
  constructor(message: string, options?: { cause?: unknown; outcome?: Outcome }) {
    super(message, { cause: options?.cause, code: 'ERR_TIMEOUT' })
    this.outcome = options?.outcome ?? 'unknown'
  }
}

/** Options of `waitFor` (SPEC §10): how durable a write must be before it resolves. */
export interface WaitFor {
  /** Replicas that must acknowledge the write (WAIT); default 0. */
  replicas?: number | undefined
  /** The write must reach the AOF of the node (WAITAOF local 1); default false. */
  aof?: boolean | undefined
  /** How long to wait for the acknowledgements, in ms; default 100. */
  timeout?: number | undefined
}

/**
 * A write was applied but not confirmed as durable as `waitFor` asked within its timeout.
 * The write is not undone; `replicas` and `localAof` are the acknowledgements reached.
 */
export class DurabilityError extends RedfleetError {
  readonly replicas: number
  readonly localAof: boolean
  readonly wanted: WaitFor
  constructor(message: string, reached: { replicas: number; localAof: boolean; wanted: WaitFor }) {
    super(message, { code: 'ERR_DURABILITY' })
    this.replicas = reached.replicas
    this.localAof = reached.localAof
    this.wanted = reached.wanted
  }
}

/** A value cannot be encoded (not JSON-able) or a stored value cannot be decoded. */
export class SerializationError extends RedfleetError {
  /**
   * True when what failed is a value read back from Redis (a corrupt entry, one another program
   * wrote), false for a value the caller gave: failsafe treats the first as a failure of the
   * data, the second as the caller's bug.
   */
  readonly stored: boolean

  constructor(message: string, options?: { cause?: unknown; stored?: boolean }) {
    super(message, { cause: options?.cause, code: 'ERR_SERIALIZATION' })
    this.stored = options?.stored ?? false
  }
}

/**
 * The fleet (or the primitive) was closed; nothing more can be done with it. A call refused
 * because the fleet was closed never reached Redis (`outcome: 'not-applied'`); one cut off by the
 * close while its command was out may have been applied (`'unknown'`).
 */
export class ClosedError extends RedfleetError {
  readonly outcome: Outcome
  constructor(message: string, options?: { cause?: unknown; outcome?: Outcome }) {
    super(message, { cause: options?.cause, code: 'ERR_CLOSED' })
    this.outcome = options?.outcome ?? 'not-applied'
  }
}

/**
 * A wait below a call (a subscription's confirmation) that close ended, told as that call's own
 * ClosedError: `broker.ready 'orders': the fleet is closed`, the close's error its cause.
 */
export function closedDuring(error: ClosedError, op: string, name: string): ClosedError {
  return new ClosedError(`${op} '${name}': the fleet is closed`, { cause: error, outcome: error.outcome })
}

/**
 * Bad options, thrown synchronously by a factory; or a setting that fails each call (the seeds of
 * `cluster: true` are no cluster), whose `outcome` is then `'not-applied'` (SPEC §8: nothing was
 * sent). A factory's has none.
 */
export class ConfigError extends RedfleetError {
  declare readonly code: ConfigErrorCode
  readonly outcome: Outcome | undefined
  constructor(
    message: string,
    code: ConfigErrorCode = 'ERR_CONFIG',
    options?: { outcome?: Outcome; cause?: unknown },
  ) {
    super(message, { code, cause: options?.cause })
    this.outcome = options?.outcome
  }
}

/**
 * What a call to the seeds of `cluster: true` fails with when they are no cluster: nothing was
 * sent. `announced`: the words were said already (a warning), and no warning repeats them.
 */
export function notACluster(message: string, announced = false): ConfigError {
  const error = new ConfigError(message, 'ERR_NOT_A_CLUSTER', { outcome: 'not-applied' })
  return announced ? Object.assign(error, { announced: true }) : error
}

/**
 * What a fleet that is not a cluster one meets when its url names a Redis Cluster node: the
 * node redirects (MOVED) or refuses (CROSSSLOT) the keys of other slots, which only a cluster
 * client follows or splits. `outcome`: the failed call's, when known.
 */
export function isACluster(
  message: string,
  options: { cause?: unknown; outcome?: Outcome } = {},
): ConfigError {
  return new ConfigError(message, 'ERR_IS_A_CLUSTER', options)
}

/** What an InvalidArgumentError is about. */
export type ArgumentErrorCode = 'ERR_INVALID_ARGUMENT' | 'ERR_INVALID_KEY'

/**
 * A bad argument to a call (an empty or over-long key, a negative ttl, a Map as a cache key): a
 * programming error, so a TypeError as SPEC §2/§3 ask, with a stable `code` to switch on.
 */
export class InvalidArgumentError extends TypeError {
  readonly code: ArgumentErrorCode
  constructor(message: string, code: ArgumentErrorCode = 'ERR_INVALID_ARGUMENT') {
    // name stays 'TypeError', as with Node's own coded TypeErrors (ERR_INVALID_ARG_TYPE).
    super(message)
    this.code = code
  }
}

/**
 * Redis answered with an error reply (WRONGTYPE, bad arguments, ...). Not retried, except the
 * transient replies (isTransient: LOADING, READONLY, TRYAGAIN, a MOVED/ASK left after the
 * cluster client's own redirections, ...). `outcome` is `'not-applied'` for those: the node
 * refused the command before running it (SPEC §8), so what it was sent to do can be done again.
 * Other replies leave it undefined: a script's error may come after some of its writes.
 */
export class CommandError extends RedfleetError {
  readonly outcome: Outcome | undefined
  constructor(message: string, options?: { cause?: unknown; outcome?: Outcome }) {
    super(message, { cause: options?.cause, code: 'ERR_COMMAND' })
    this.outcome = options?.outcome
  }
}

/** An optimistic update lost to concurrent writers more times than it may retry. */
export class ConflictError extends RedfleetError {
  constructor(message: string) {
    super(message, { code: 'ERR_CONFLICT' })
  }
}

/**
 * The Redis client package of the fleet's transport (ioredis, or node-redis's `redis`) is not
 * installed. It fails the calls that would have loaded it: none was sent (`'not-applied'`).
 */
export class MissingClientError extends RedfleetError {
  readonly outcome: Outcome = 'not-applied'
  /** `pkg`: the package the fleet's transport needs ('ioredis' by default, 'redis' for node-redis). */
  constructor(cause?: unknown, pkg: 'ioredis' | 'redis' = 'ioredis') {
    super(
      `redfleet needs the '${pkg}' package to talk to Redis: run \`npm install ${pkg}\` ` +
        '(the in-memory topology, used when no url is given, does not need it)',
      { cause, code: 'ERR_MISSING_CLIENT' },
    )
  }
}

/** Error replies as Redis words them, for the memory backends' same refusals (see replyError). */
export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value'
export const NOT_AN_INTEGER = 'ERR value is not an integer or out of range'
export const NOT_A_FLOAT = 'ERR value is not a valid float'

/**
 * An error reply as Redis sends it (ioredis calls it ReplyError), raised by a memory backend for
 * the refusals Redis would make. The operation runner's translateError turns it into the
 * CommandError that names the operation and the caller's key (not the namespaced key the backend
 * sees): that message is built in one place for both backends.
 */
export function replyError(reply: string): Error {
  const error = new Error(reply)
  error.name = 'ReplyError'
  return error
}

const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|UNBLOCKED)\b/

/**
 * Redis' refusal while a cluster's state is fail, as told to a caller: its slot map may be stale
 * (a master restarted, whose slots it left out), and no MOVED will come to correct it.
 */
export function isClusterDown(error: unknown): boolean {
  return error instanceof CommandError && /\bCLUSTERDOWN\b/.test(error.message)
}

/**
 * A failure that may come from a stale slot map, which the cluster client would not know: a
 * command that got no reply (its master may be frozen and taken over by its replica, which no
 * MOVED and no lost connection tells) or a cluster refusing every command. The slot map is then
 * re-read (RedisTopology.doubtLayout).
 */
export function doubtsLayout(error: unknown): boolean {
  return error instanceof TimeoutError || isClusterDown(error)
}

/**
 * A cluster redirection that reached redfleet: the cluster client followed MOVED/ASK as often as
 * it may (ioredis' maxRedirections, node-redis' maxCommandRedirections) and the slot still
 * seemed elsewhere, as while a restarted master rejoins or a resharding moves slots. The node
 * that answered did not run the command, and a moment later the slot map has settled.
 */
const REDIRECTION_REPLY = /^(MOVED|ASK) /

/**
 * ioredis' refusal of a pipeline whose keys its slot map puts on several masters, before sending
 * anything: the call grouped them by node with the map as it was a moment before, and a slot
 * has moved since (its map refreshed on another command's MOVED). As after a MOVED, nothing ran,
 * and a new attempt groups the keys again by the map as it is now.
 */
const SLOT_MAP_MOVED = /^All keys in the pipeline should belong to the same slots allocation group/

/**
 * How a cluster client gives up on a command that kept meeting MOVED, ASK, TRYAGAIN or
 * CLUSTERDOWN. ioredis (maxRedirections times): a plain Error, no cause, whose message ends with
 * the last reply as `String(replyError)` words it (`... Last error: ReplyError: MOVED 5386
 * 127.0.0.1:7511`). node-redis 6 (MOVED/ASK only): MaxCommandRedirectionsError, message "Too
 * many Cluster redirections", the last reply its cause; node-redis 5 throws that reply itself.
 */
const REDIRECTIONS_EXHAUSTED = /^Too many Cluster redirections(?:\. Last error: (?:ReplyError: )?|$)/

/** How deep errorChain follows `cause`: a cycle or a runaway chain must not hang a loop. */
const MAX_CAUSES = 8

/**
 * An error and its causes, outermost first. redfleet wraps what a client threw (CommandError
 * around a ReplyError or a redirection storm), so a classification that looks at one level
 * misses the reply underneath.
 */
function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e = error; e !== undefined && chain.length < MAX_CAUSES && !chain.includes(e); ) {
    chain.push(e)
    e = e instanceof Error ? e.cause : undefined
  }
  return chain
}

/** The Redis reply an error carries: its message, or the last reply of a redirection storm. */
function replyOf(error: unknown): string {
  return messageOf(error).replace(REDIRECTIONS_EXHAUSTED, '')
}

/**
 * Redis answered WRONGTYPE (the key holds another type), however the error was wrapped: no
 * later try of the command can pass. Read from Redis' own reply, not from a message that names
 * a user's key or channel, which may contain the word.
 */
export function isWrongType(error: unknown): boolean {
  return carriesReply(error, /^WRONGTYPE\b/)
}

/** Whether any error of the chain is (or ends a storm with) a reply `pattern` matches. */
function carriesReply(error: unknown, pattern: RegExp): boolean {
  return errorChain(error).some((e) => pattern.test(replyOf(e)))
}

/**
 * TRYAGAIN: a command of several keys of one slot, some of them moved to another master and
 * some not (the slot is halfway through a migration), as the client threw it or as the last
 * reply of a storm. Nothing ran; Redis refuses it until the migration ends.
 */
export function isTryAgain(error: unknown): boolean {
  return carriesReply(error, /^TRYAGAIN\b/)
}

/**
 * A command of several keys refused for its slot's migration: TRYAGAIN, or a cluster client's
 * storm of redirections, which such a refusal makes on ioredis (it sends a command refused with
 * TRYAGAIN again to a random master, which redirects it with MOVED: its last reply may be MOVED
 * or ASK as well as TRYAGAIN). Nothing ran.
 */
export function isRefusedMidMigration(error: unknown): boolean {
  return isTryAgain(error) || errorChain(error).some(isRedirectionStorm)
}

/**
 * NOSCRIPT (the node does not know the script: restarted, or SCRIPT FLUSH), as the client threw
 * it or as the last reply of a storm: ioredis' Cluster re-sends a command refused while a
 * restarted master rejoins, and may give up with NOSCRIPT last. Nothing ran: send the source.
 */
export function isNoScript(error: unknown): boolean {
  return carriesReply(error, /^NOSCRIPT/)
}

/**
 * A MOVED or ASK reply, as the client threw it or wrapped (a CommandError, ioredis' "Too many
 * Cluster redirections"): the slot moved, and a later attempt goes where it went.
 */
export function isRedirection(error: unknown): boolean {
  return carriesReply(error, REDIRECTION_REPLY) || carriesReply(error, SLOT_MAP_MOVED)
}

/**
 * Redis refusing writes for a state of the server that an operator or time ends: out of memory
 * under `noeviction` (OOM), fewer replicas than `min-replicas-to-write` (NOREPLICAS), a failed
 * background save with `stop-writes-on-bgsave-error` (MISCONF). A call fails at once with it (its
 * caller decides); a background loop waits it out (src/loops.ts).
 */
export function isServerStateRefusal(error: unknown): boolean {
  return carriesReply(error, SERVER_STATE_REFUSAL)
}

const SERVER_STATE_REFUSAL = /^(OOM|NOREPLICAS|MISCONF)\b/

/**
 * Redis refused the command for good, however the error was wrapped: an error reply (NOPERM, an
 * unknown command, a script's error) that is not one of the transient ones: a later try gets the
 * same answer. A lost connection or a node known down is no refusal.
 */
export function isLastingRefusal(error: unknown): boolean {
  return errorChain(error).some(isReplyError) && !isTransientReply(error)
}

/** A reply worth repeating: Redis refused for now (loading, failing over) or the slot moved. */
function isTransientReply(error: unknown): boolean {
  return carriesReply(error, TRANSIENT_REPLY) || isRedirection(error)
}

/**
 * Transient failures are worth retrying: the same command may succeed a moment later. An error
 * reply among them (LOADING, READONLY, MOVED, ...) says the node did not run the command, so it
 * is never ambiguous (isAmbiguous) and even a publish is retried.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof NodeDownError) return false // failing at once is the point (SPEC §8)
  if (error instanceof ConnectionError || error instanceof TimeoutError) return true
  if (error instanceof CommandError) return isTransientReply(error.cause)
  return false
}

/**
 * True when a failure leaves it open whether Redis applied the command: a timeout, a connection
 * lost while the command may have been in flight, a call cut off by close while Redis held it,
 * a multi-part write refused in part (partlyApplied): every error whose `outcome` is 'unknown'.
 * Error replies (LOADING, READONLY, ...) and failures known to be `'not-applied'` are not
 * ambiguous: Redis did not run it.
 */
export function isAmbiguous(error: unknown): boolean {
  return error instanceof RedfleetError && (error as { outcome?: Outcome }).outcome === 'unknown'
}

/**
 * The error a call ends with when an earlier attempt of it failed ambiguously (`doubt`) and its
 * last attempt did not: a last attempt known not to have reached Redis (the node was down by
 * then, the fleet closed) says nothing of the earlier one, which Redis may have applied. The
 * caller is told `'unknown'`, never `'not-applied'`: the earlier error, or for a close, a
 * ClosedError whose cause it is. Other failures (a command error) are the call's own answer.
 */
export function afterDoubt(last: unknown, doubt: unknown): unknown {
  if (isAmbiguous(last) || !isNotApplied(last)) return last
  if (last instanceof ClosedError) return new ClosedError(last.message, { cause: doubt, outcome: 'unknown' })
  return doubt
}

function isNotApplied(error: unknown): boolean {
  return (error as { outcome?: unknown } | null)?.outcome === 'not-applied' && error instanceof RedfleetError
}

/**
 * Whether `error` (typed, or a client's own) says its command was not applied: never sent, or
 * refused by the node before running it (READONLY, MOVED, ...: CommandError's outcome).
 */
export function sentNothing(error: unknown): boolean {
  if (error instanceof RedfleetError) return isNotApplied(error)
  if (NOT_SENT.test(messageOf(error))) return true
  return isClientReply(error) && isTransientReply(error)
}

/** What partlyApplied says of a call one of whose commands failed beside others that were applied. */
export const APPLIED_BESIDE = 'other commands of the call were applied'

/**
 * The error of a multi-node call (setMany, writeMulti, deleteMulti, ...) one of whose parts
 * failed with `error` while another part was sent (SPEC §8): keys on the other nodes may be
 * written, so a failure that says nothing was sent is told as `'unknown'`. Others are unchanged.
 * `others`: what else was sent (another command of the same pipeline, for one node's part).
 */
export function partlyApplied(error: unknown, others = 'the parts for the other nodes were sent'): unknown {
  // A setting that fails every part (no cluster, no client package) is said as it is.
  if (!sentNothing(error) || error instanceof ConfigError || error instanceof MissingClientError) return error
  const message = `${messageOf(error)}; ${others}: some keys may be written`
  if (error instanceof NodeDownError) {
    return new NodeDownError(message, error.node, { cause: error.cause, outcome: 'unknown' })
  }
  if (error instanceof ClosedError) return new ClosedError(message, { cause: error, outcome: 'unknown' })
  // A node's refusal, as its client threw it: translateError names the operation.
  if (isClientReply(error) || error instanceof CommandError) {
    return new CommandError(message, {
      cause: error instanceof CommandError ? error.cause : error,
      outcome: 'unknown',
    })
  }
  return new ConnectionError(message, { cause: error, outcome: 'unknown' })
}

/**
 * Failures whose cause was announced once already, when it began (a node known to be down, a
 * seed that is not a cluster): default warning sinks skip them, so that a warning is printed per
 * change of state, never per call (SPEC §1). A user's own onError still receives them.
 */
export function isAnnounced(error: unknown): boolean {
  return error instanceof NodeDownError || (error as { announced?: unknown } | null)?.announced === true
}

/**
 * What a failure says: an Error's message, else the thrown value as text. A handler may throw
 * anything, and String() itself throws for some values (an object with a null prototype, a
 * toString that throws): those are inspected instead, so reporting a failure never fails.
 */
export function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error)
  } catch {
    try {
      return inspect(error, { depth: 2, breakLength: Number.POSITIVE_INFINITY })
    } catch {
      return 'a thrown value that cannot be shown as text' // a revoked Proxy
    }
  }
}

/** How redfleet fails an ioredis command queued on a connection that closed before it was ready. */
export const UNSENT = 'Connection is closed before the command was sent'

/**
 * Failures that happen before a command is written: Redis cannot have applied it. node-redis:
 * "The client is closed" (ClientClosedError), "The client is offline" (ClientOfflineError).
 */
const NOT_SENT = new RegExp(
  `ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|enableOfflineQueue options is false|The client is (closed|offline)|${UNSENT}`,
  'i',
)

/**
 * What the clients say when a connection is lost or cannot be made: ioredis' words, then
 * node-redis' ("Socket closed unexpectedly", "Disconnects client", "All the root nodes are
 * unavailable", and the NOT_SENT ones), then Node's own for a write after the server closed the
 * connection (EPIPE), which node-redis 5 hands on as it is (helper-296).
 */
const CONNECTION_FAILURE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|Connection is closed|Stream isn't writeable|Reached the max retries|max retries per request|Failed to refresh slots cache|None of startup nodes is available|enableOfflineQueue options is false|Command aborted due to connection close|The client is (closed|offline)|Socket closed unexpectedly|Disconnects client|root nodes are unavailable|ended by the other party/i

/**
 * Errors a user's own code threw inside an operation (`store.update`'s `fn`): theirs, as thrown.
 * A `fn` whose own HTTP call hung up (ECONNRESET) or wrote to a closed socket (EPIPE) is no lost
 * connection to Redis: it was told as one, retried and swallowed by `failsafe` (helper-299).
 */
const USER_CODE_ERRORS = new WeakSet<object>()

/** Marks `error` as thrown by user code: translateError leaves it as it is, and it is never retried. */
export function thrownByUserCode(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) USER_CODE_ERRORS.add(error)
  return error
}

function isUserCodeError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && USER_CODE_ERRORS.has(error)
}

/** A socket's error code for a connection that could not be made or was lost. */
const LOST_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE'])

function isLostSocket(error: unknown): boolean {
  return LOST_SOCKET.has(String((error as { code?: unknown } | undefined)?.code))
}

/** A reply that is not RESP (ioredis 6 and node-redis, ioredis 5's redis-parser): no Redis sent it. */
const NOT_RESP = /Unknown RESP type|Protocol error, got/

/**
 * A client's failure to read a reply because the server does not speak Redis' protocol (an HTTP
 * server, a TLS port spoken to in plain text), in words a user can act on; undefined otherwise.
 */
export function notRedisReason(error: unknown): string | undefined {
  const message = messageOf(error)
  if (!NOT_RESP.test(message)) return undefined
  return `the server does not answer in Redis' protocol (${message.replace(/\.? Please report this\.$/, '')}): is the url that of a Redis server?`
}

/** A client's own words for a command that got no reply in time (ioredis, node-redis, sockets). */
const CLIENT_TIMEOUT = /^Command timed out|^Connection timeout|\bETIMEDOUT\b/

/**
 * Whether `retry()` tries again after `error`: redfleet's transient errors, and a Redis client's
 * own (a transient error reply, its words for a lost connection or a timeout). Any other error
 * is the caller's: a message that merely mentions a timeout is not retried.
 */
export function isTransientFailure(error: unknown): boolean {
  if (isUserCodeError(error)) return false
  if (error instanceof RedfleetError) return isTransient(error)
  if (isRedirectionStorm(error) && stormEndedByLostConnection(error)) return true
  if (isClientReply(error)) return isTransientReply(error)
  if (!(error instanceof Error)) return false
  if (error.name === 'TimeoutError' || isLostSocket(error)) return true
  return CONNECTION_FAILURE.test(error.message) || CLIENT_TIMEOUT.test(error.message)
}

/** Error replies of Redis: ioredis' ReplyError, node-redis' ErrorReply (and its SimpleError, BlobError). */
const REPLY_ERRORS = new Set(['ReplyError', 'ErrorReply', 'SimpleError', 'BlobError'])

function isReplyError(error: unknown): boolean {
  return error instanceof Error && (REPLY_ERRORS.has(error.name) || REPLY_ERRORS.has(error.constructor.name))
}

/**
 * What a client throws for Redis' answer, before translateError: a reply, a cluster client's
 * storm of them, or its slot map's own refusal of a pipeline.
 */
function isClientReply(error: unknown): boolean {
  return isReplyError(error) || isRedirectionStorm(error) || isSlotMapMoved(error)
}

function isSlotMapMoved(error: unknown): error is Error {
  return error instanceof Error && SLOT_MAP_MOVED.test(error.message)
}

function isRedirectionStorm(error: unknown): error is Error {
  return error instanceof Error && REDIRECTIONS_EXHAUSTED.test(error.message)
}

/**
 * ioredis counts a cluster command's redirections before it looks at the error, so a command
 * whose sixteenth try lost its connection (a failover) ends as a storm: "Too many Cluster
 * redirections. Last error: Error: Connection is closed." A lost connection, not a refusal.
 */
function stormEndedByLostConnection(error: Error): boolean {
  const last = replyOf(error)
  return CONNECTION_FAILURE.test(last) || CLIENT_TIMEOUT.test(last.replace(/^\w*Error: /, ''))
}

/**
 * Translates whatever the client threw into a redfleet error naming `op` and `key`.
 * Reply errors from Redis (and a cluster client's redirection storm) become CommandError; the
 * original is kept as `cause`.
 */
export function translateError(error: unknown, op: string, key?: string): unknown {
  if (isUserCodeError(error)) return error
  const where = key === undefined ? op : `${op} '${key}'`
  const unnamed = unnamedFailure(error, where)
  // Made where the command was refused, which knows the node but not the operation.
  if (unnamed instanceof NodeDownError) {
    return new NodeDownError(`${where} failed: ${unnamed.message}`, unnamed.node, {
      cause: unnamed.cause,
      outcome: unnamed.outcome,
    })
  }
  // Made where the call's connections or parts were followed (a pipeline's node lost or silent,
  // partlyApplied gathering a multi-node call's parts), which know no operation.
  if (unnamed) {
    const Failure = unnamed.constructor as typeof CommandError
    const named = new Failure(`${where} failed: ${unnamed.message}`, {
      cause: unnamed.cause,
      outcome: unnamed.outcome,
    })
    // One warning per state of a node: an error of a state already said stays said.
    return isAnnounced(unnamed) ? Object.assign(named, { announced: true }) : named
  }
  if (error instanceof RedfleetError || error instanceof TypeError) return error
  // The client's slot map moved a key away from its batch before anything was sent: a redirection.
  if (isSlotMapMoved(error)) {
    return new CommandError(`${where} failed: a slot moved while the call was under way (${error.message})`, {
      cause: error,
      outcome: 'not-applied',
    })
  }
  // Redis kept refusing (CLUSTERDOWN while the cluster's state is fail) or redirecting (MOVED
  // while a restarted master rejoins) until the client gave up: transient (isTransient).
  if (isRedirectionStorm(error)) {
    const reply = replyOf(error) || messageOf(error.cause)
    // The last try lost its connection (a failover under way): it may have been applied.
    if (stormEndedByLostConnection(error)) {
      return new ConnectionError(`${where} failed: ${reply} (after the cluster client's redirections)`, {
        cause: error,
      })
    }
    return new CommandError(`${where} failed: ${reply} (still so after the cluster client's retries)`, {
      cause: error,
      outcome: isTransientReply(error) ? 'not-applied' : undefined,
    })
  }
  const message = messageOf(error)
  const notRedis = notRedisReason(error)
  if (notRedis) return new ConnectionError(`${where} failed: ${notRedis}`, { cause: error })
  // Before the timeout test: the reason it quotes may mention one ("within connectTimeout").
  if (message.startsWith(UNSENT)) {
    return new ConnectionError(`${where} failed: ${message}`, { cause: error, outcome: 'not-applied' })
  }
  if (/timed? ?out/i.test(message))
    return new TimeoutError(`${where} timed out: ${message}`, { cause: error })
  if (CONNECTION_FAILURE.test(message) || isLostSocket(error)) {
    const outcome = NOT_SENT.test(message) ? 'not-applied' : 'unknown'
    return new ConnectionError(`${where} failed: Redis is unreachable (${message})`, {
      cause: error,
      outcome,
    })
  }
  if (isReplyError(error) && AUTH_REFUSED.test(message)) {
    // The connection is unusable, whatever the command: a wrong or missing password (node-redis
    // sends a call queued behind a failed AUTH unauthenticated, and says NOAUTH for WRONGPASS).
    return new ConnectionError(
      `${where} failed: Redis refused the connection's credentials (${message}): check the user and password in the url`,
      { cause: error, outcome: 'not-applied' },
    )
  }
  if (isReplyError(error)) {
    // A refusal (READONLY, LOADING, MOVED, ...) came before the command ran: not applied.
    return new CommandError(`${where} failed: ${message.replace(SCRIPT_TRACE, '')}`, {
      cause: error,
      outcome: isTransientReply(error) ? 'not-applied' : undefined,
    })
  }
  return error
}

/**
 * A typed failure with an outcome whose message names no call yet (not `where`, nor the call
 * below it that made it: "store.increment 'k' failed: …" stays as it is inside a cache.fetch).
 */
function unnamedFailure(
  error: unknown,
  where: string,
): CommandError | ConnectionError | TimeoutError | undefined {
  const typed =
    error instanceof CommandError || error instanceof ConnectionError || error instanceof TimeoutError
  if (!typed || error.outcome === undefined) return undefined
  return error.message.startsWith(where) || NAMES_A_CALL.test(error.message) ? undefined : error
}

/**
 * How a message that names its call begins: "store.get 'k' failed", "membership.live timed out",
 * "cache.set (unlessExist) 'it's' failed" (a key may hold quotes).
 */
const NAMES_A_CALL = /^[a-z][\w.]*(?: [a-z]\w*)?(?: \([^)]*\))?(?: '.*')? (?:failed|timed out)\b/

/** Replies refusing a connection's credentials: none given (NOAUTH), or wrong ones (WRONGPASS). */
const AUTH_REFUSED = /^(?:NOAUTH|WRONGPASS)\b/

/**
 * What Redis 7 appends to an error raised inside a script (`… script: <sha>, on
 * @user_script:16.`): where in redfleet's Lua it failed, which means nothing to the caller, and
 * which the same call on memory does not say. The client's error (the `cause`) keeps it.
 */
const SCRIPT_TRACE = / script: [0-9a-f]{40}, on @user_script:\d+\.?$/
