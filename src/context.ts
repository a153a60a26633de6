import diagnosticsChannel from 'node:diagnostics_channel'
import { safely } from './broker/listener.ts'
import type { NearCaches } from './cache/near-caches.ts'
import type { CallOrder } from './cache/order.ts'
import { started } from './deadline.ts'
import {
  ClosedError,
  ConnectionError,
  DurabilityError,
  doubtsLayout,
  isACluster,
  isAmbiguous,
  isRedirection,
  isTransient,
  messageOf,
  type Outcome,
  RedfleetError,
  translateError,
} from './errors.ts'
import type { FailingNodes } from './failing-nodes.ts'
import { withoutRejections } from './hooks.ts'
import type { Keyspace } from './keyspace.ts'
import type { Lifecycle } from './lifecycle.ts'
import type { LiveReads } from './membership/live-reads.ts'
import { repeatsSafely } from './operations.ts'
import { isDefaultOnError } from './options.ts'
import type { Subscriber } from './pubsub/index.ts'
import { type RetryClock, type RetryOptions, resolveRetry, retryAfter, toldFailure } from './retry.ts'
import { sleep } from './sleep.ts'
import type { KeyOrder } from './store/order.ts'
import { isTraced, type OperationContext, operationChannel, type TraceScope } from './telemetry.ts'
import type { TopologyHandle } from './topology/handle.ts'
import type { MemoryKeyspace } from './topology/memory.ts'
import type { RedisTopology, TopologyKind } from './topology/types.ts'
import type { FleetWarnings } from './warnings.ts'

/**
 * What a primitive receives from its fleet: where its keys live, how to reach Redis (or the
 * process memory), the default retry policy and error sink, and the lifecycle to hook into.
 */
export interface FleetContext {
  readonly topology: TopologyKind
  readonly keys: Keyspace
  /** The process keyspace; the primitives' memory implementations keep their data here. */
  readonly memory: MemoryKeyspace
  /** The Redis topology, built on first use (this is when ioredis is imported). */
  redis(): Promise<RedisTopology>
  /** The fleet's one hold on it, for the primitives' backends (see TopologyHandle). */
  readonly redisHandle: TopologyHandle
  readonly lifecycle: Lifecycle
  readonly retry: Required<RetryOptions>
  readonly onError: (error: unknown, context: { op: string }) => void
  readonly commandTimeout: number
  readonly connectTimeout: number
  /**
   * The fleet's pub/sub hub (one per fleet, shared by every view): dedicated subscriber
   * connections per node, opened on first subscribe, closed by `fleet.close()` after the
   * primitives' cleanups. See src/pubsub/types.ts.
   */
  subscriber(): Subscriber
  /**
   * Per-key call order (SPEC §2) is kept per fleet, not per primitive object: every store and
   * every cache made from the fleet or its views share one, since "calls from one process on
   * one key" may well go through two `fleet.store()` objects. So do the memberships' shared
   * reads of their live set, which a heartbeat of any of them must not be answered before.
   */
  readonly order: { readonly store: KeyOrder; readonly cache: CallOrder; readonly membership: LiveReads }
  /** The near caches of the fleet's caches on Redis (see NearCaches). */
  readonly nearCaches: NearCaches
  /** Nodes its background work sees failing, each reported once (see FailingNodes). */
  readonly failingNodes: FailingNodes
  /** Its default warnings: a kind of failure at most once a while (FleetWarnings). */
  readonly warnings: FleetWarnings
}

/** How one primitive runs its operations: its retry policy and where its failures go. */
export interface OperationPolicy {
  retry: Required<RetryOptions>
  /** Where failures that no caller hears go (loops, listeners, tracking). */
  onError: (error: unknown, op: string) => void
  /**
   * Where a failed call's error goes besides its caller, who gets it as the rejection: to an
   * `onError` the user gave, not to the default one, which warns, and warnings come once per
   * change of a node's state, never once per call (SPEC §1).
   */
  onCallError?: (error: unknown, op: string) => void
}

export function operationPolicy(
  ctx: FleetContext,
  options: { retry?: RetryOptions; onError?: (e: unknown) => void },
): OperationPolicy {
  const own = options.onError
  const onError: OperationPolicy['onError'] = own
    ? withoutRejections((error: unknown) => own(error))
    : (error, op) => ctx.onError(error, { op })
  return {
    retry: resolveRetry(ctx.retry, options.retry),
    onError: (error, op) => {
      // Work close stopped waiting for (a handler that outlived the grace) meets the connections
      // close ended when it settles: that is the close, already reported, not an outage. (A
      // ClosedError is what a call made after close reports: a broker publish, say.)
      if (isDrained(ctx.lifecycle) && !(error instanceof ClosedError)) return
      onError(error, op)
    },
    onCallError: own || !isDefaultOnError(ctx.onError) ? onError : undefined,
  }
}

/**
 * Reports the failure of a call whose caller is redfleet itself (a heartbeat of `join`, a tracking
 * record): runCommand gave it to onCallError when the user listens to each call; else it goes to
 * onError here, as failures that no caller hears do. A closing fleet is no failure.
 */
export function reportUnheard(policy: OperationPolicy, error: unknown, op: string): void {
  if (!policy.onCallError) reportFailure(policy, error, op)
}

/**
 * Reports to onError a failure no caller hears and nothing reported yet (a step sent outside the
 * runner, or under a quiet policy). A closing fleet is no failure; a throwing onError is ignored.
 */
export function reportFailure(policy: OperationPolicy, error: unknown, op: string): void {
  if (error instanceof ClosedError) return
  safely((e) => policy.onError(e, op), error)
}

/**
 * A call refused by a closed fleet, or (`cutOff`, the call's own error translated) cut off by the
 * close: then whether Redis applied it is what that error says (a timeout or a lost connection:
 * unknown).
 */
function closedError(op: string, key: string | undefined, cutOff?: unknown): ClosedError {
  const message = `${key === undefined ? op : `${op} '${key}'`}: the fleet is closed`
  if (cutOff === undefined) return new ClosedError(message)
  // A DurabilityError is a write applied whose acknowledgements were cut off (helper-229).
  const applied = cutOff instanceof DurabilityError
  const outcome =
    cutOff instanceof RedfleetError && !isAmbiguous(cutOff) && !applied ? 'not-applied' : 'unknown'
  return new ClosedError(message, { cause: cutOff, outcome })
}

/**
 * Runs one operation that is a single Redis step and its own trace (the admin dead-letter steps):
 * refused on a closed fleet, traced on `redfleet:<primitive>:<method>` (SPEC §11, context `key`)
 * when someone listens, then run by runCommand. The primitives trace each public call once with
 * `traced` (src/telemetry.ts) and run its steps with runCommand.
 */
export function runOperation<T>(
  ctx: FleetContext,
  policy: OperationPolicy,
  op: string,
  key: string | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  if (ctx.lifecycle.closed) return Promise.reject(closedError(op, key))
  const channel = operationChannel(op)
  if (!isTraced(channel)) return runCommand(ctx, policy, op, key, fn)
  const context: OperationContext = { namespace: ctx.keys.namespace, topology: ctx.topology, key }
  return channel.tracePromise(() => runCommand(ctx, policy, op, key, fn), context)
}

/**
 * Every command a primitive sends through the runner is traced here too, one level below the
 * operations (`{ op, key, namespace, topology }`): a cache `fetch` is one operation and several
 * commands (read, lock, read again, write), and each try of a command is one trace (a retried
 * command, one per send). For debugging and tests; free when nobody listens.
 */
const commands = diagnosticsChannel.tracingChannel<unknown, OperationContext & { op: string }>(
  'redfleet:command',
)

/**
 * `runOperation` without its trace, for the primitives, which trace each public call themselves
 * (src/telemetry.ts `traced`): one trace per call, from its argument checks to what it resolves,
 * however many commands it sends (a cache read with its hit or miss, a tracker recovery pass). A
 * call that succeeds costs one await; the retry machinery is built only when `fn` fails.
 */
export function runCommand<T>(
  ctx: FleetContext,
  policy: OperationPolicy,
  op: string,
  key: string | undefined,
  fn: () => Promise<T>,
  overtaken?: () => boolean,
): Promise<T> {
  return command(ctx, policy, op, key, fn, isClosed, overtaken)
}

/**
 * `runCommand` for the one step that finishes work handed to the user before close began (a
 * recovered orphan's completion or release, src/tracker/recovery.ts): it is let through while
 * the fleet is closing, because close waits for it before closing the connections; refused
 * once they close. Refusing it would leave the orphan claimed until its TTL and then hand it
 * out a second time.
 */
export function runFinishing<T>(
  ctx: FleetContext,
  policy: OperationPolicy,
  op: string,
  key: string | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  return command(ctx, policy, op, key, fn, isDrained)
}

function command<T>(
  ctx: FleetContext,
  policy: OperationPolicy,
  op: string,
  key: string | undefined,
  fn: () => Promise<T>,
  refused: Refused,
  overtaken?: () => boolean,
): Promise<T> {
  if (!isTraced(commands)) return attempt(ctx, policy, op, key, fn, refused, overtaken)
  // Each try is a command sent, and its own trace: a call retried twice reached Redis three
  // times. The retry loop is the untraced one, given a `fn` that traces each of its tries.
  const namespace = ctx.keys.namespace
  const topology = ctx.topology
  const send = () => translated(fn, op, key)
  return attempt(
    ctx,
    policy,
    op,
    key,
    () => commands.tracePromise(send, { op, key, namespace, topology }),
    refused,
    overtaken,
  )
}

/**
 * One try of a traced command: what `fn` resolves, or its failure as the caller would hear it
 * (translated: a TimeoutError, a ConnectionError, ... naming the call), for the try's trace.
 * `attempt` translates it again, to the same error.
 */
function translated<T>(fn: () => Promise<T>, op: string, key: string | undefined): Promise<T> {
  return started(fn).then(undefined, (error: unknown) => {
    throw translateError(error, op, key)
  })
}

/** When a command is refused: a closed fleet (every command), or its connections closing (finishing steps). */
type Refused = (lifecycle: Lifecycle) => boolean
const isClosed: Refused = (lifecycle) => lifecycle.closed
const isDrained: Refused = (lifecycle) => lifecycle.closed && !lifecycle.draining

/** The retry's clock for a call refused once `refusal` aborts: its backoff ends then. */
function sleepingUntil(refusal: AbortSignal): RetryClock {
  return { sleep: (ms) => sleep(ms, refusal), random: Math.random }
}

/**
 * One try of `fn`, and the retry policy if it fails. Not an async function: a call that succeeds
 * costs one derived promise, the hot path of every command.
 */
function attempt<T>(
  ctx: FleetContext,
  policy: OperationPolicy,
  op: string,
  key: string | undefined,
  fn: () => Promise<T>,
  refused: Refused,
  overtaken?: () => boolean,
): Promise<T> {
  if (refused(ctx.lifecycle)) return toldFailure(closedError(op, key))
  return started(fn).then(undefined, (error: unknown) => {
    const repeatable = repeatsSafely(op)
    const judge = {
      // A command cut off by close: the caller learns that the fleet closed, not how the socket did.
      translate: (e: unknown) => {
        let error = withClusterHint(ctx, translateError(e, op, key))
        // A master that stopped answering may have been taken over: the client would not know.
        if (doubtsLayout(error)) ctx.redisHandle.current?.doubtLayout()
        // A redirection the client handed back (a pipeline's MOVED): the retry follows the slot,
        // and one to a master without a connection is told as that master unreachable.
        else if (isRedirection(error)) error = movedMeaning(ctx, error, op, key) ?? error
        return refused(ctx.lifecycle) ? closedError(op, key, error) : error
      },
      // Not once a later call on its keys was made (KeyOrder): sent again, it would be applied after it.
      retryable: (e: unknown) => isTransient(e) && (repeatable || !isAmbiguous(e)) && overtaken?.() !== true,
    }
    // A retry waits out its backoff only until the fleet refuses it, and is not sent then: a long
    // `retry.max` kept the caller, and the process, waiting past close (helper-218). A finishing
    // step, let through while the fleet drains, keeps its backoff until the drain ends: cut short
    // as close begins, its retries would all go at once (helper-219).
    const again = () => (refused(ctx.lifecycle) ? Promise.reject(closedError(op, key)) : fn())
    const { lifecycle } = ctx
    const clock = sleepingUntil(refused === isClosed ? lifecycle.signal : lifecycle.drainedSignal)
    const onFinal = (final: unknown) => policy.onCallError?.(final, op)
    return retryAfter(error, again, policy.retry, onFinal, judge, clock)
  })
}

/**
 * What a MOVED reply the client handed back means (RedisTopology.slotMoved), named for the call:
 * its outcome stays unknown when other nodes' parts of it were sent.
 */
function movedMeaning(ctx: FleetContext, error: unknown, op: string, key: string | undefined): unknown {
  const meaning = ctx.redisHandle.current?.slotMoved(error)
  if (meaning === undefined) return undefined
  const where = key === undefined ? op : `${op} '${key}'`
  const outcome = (error as { outcome?: unknown }).outcome === 'unknown' ? 'unknown' : meaning.outcome
  return new ConnectionError(`${where} failed: ${meaning.message}`, { cause: error, outcome })
}

/** What a cluster node answers a multi-key command whose keys are in several slots. */
const CROSSSLOT = /\bCROSSSLOT\b/

/**
 * A fleet that is not a cluster one, given a cluster node's url: Redis redirects the keys of the
 * node's other slots (MOVED), which only a cluster client follows, and refuses multi-key
 * commands across slots (CROSSSLOT), which only a cluster client splits. Said in the error, since
 * the raw reply does not tell a user which option is missing.
 */
export function withClusterHint(ctx: FleetContext, error: unknown): unknown {
  if (ctx.topology === 'cluster') return error
  const message = messageOf(error)
  // Hinted already (inspectFleet's reads through the operation runner): said once.
  if (message.endsWith(CLUSTER_HINT) || !(isRedirection(error) || CROSSSLOT.test(message))) return error
  const outcome = error instanceof RedfleetError ? (error as { outcome?: Outcome }).outcome : undefined
  return isACluster(`${message}${CLUSTER_HINT}`, { cause: error, outcome })
}

const CLUSTER_HINT = ' (the server is a Redis Cluster node: connect with cluster: true)'

/** Where a primitive's calls are traced (SPEC §11): its fleet's namespace and topology. */
export function traceScope(ctx: FleetContext): TraceScope {
  return { namespace: ctx.keys.namespace, topology: ctx.topology, lifecycle: ctx.lifecycle }
}
