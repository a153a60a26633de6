import { encodeJson } from '../codec.ts'
import {
  type FleetContext,
  type OperationPolicy,
  operationPolicy,
  reportFailure,
  reportUnheard,
  runCommand,
  runFinishing,
  traceScope,
} from '../context.ts'
import { SerializationError, translateError } from '../errors.ts'
import type { RetryOptions } from '../retry.ts'
import { linkSignals } from '../signals.ts'
import { streamBackend } from '../streams/access.ts'
import type { StreamBackend } from '../streams/backend.ts'
import { START_ID } from '../streams/ids.ts'
import { newPublishId, withPublishId } from '../streams/publish-ids.ts'
import { readEntries } from '../streams/reader.ts'
import { openTrace, PrimitiveTracer, type TraceScope } from '../telemetry.ts'
import {
  assertCallOptions,
  assertName,
  assertSignal,
  checkOptions,
  countArgument,
  describeValue,
  functionOption,
  invalidArgument,
  invalidOption,
  MAX_TIMER_DELAY,
  positiveInteger,
} from '../validate.ts'
import type { MembershipBackend } from './backend.ts'
import { startBeats } from './beats.ts'
import { MemoryMembershipBackend } from './memory.ts'
import { MEMBERSHIP_OPTIONS } from './options.ts'
import { RedisMembershipBackend } from './redis.ts'
import { rendezvousOwner } from './rendezvous.ts'

/** Options of `fleet.membership()` (SPEC §6). */
export interface MembershipOptions {
  /** How long a heartbeat keeps a member alive, in ms (at least 2: join beats more often); default 6000. */
  ttl?: number | undefined
  retry?: RetryOptions | undefined
  /**
   * Final failures of operations, failed heartbeats of `join`, and leaves that fail at close;
   * default: the fleet's onError.
   */
  onError?: ((e: unknown) => void) | undefined
}

/** What `join` returns. */
export interface MembershipHandle {
  /**
   * Stops heartbeating (no heartbeat starts after it; one in flight is awaited) and leaves at
   * once; rejects if the leave fails after its retries. Idempotent.
   */
  stop(): Promise<void>
}

/** Liveness of the fleet's members, owners by rendezvous hashing, and member inboxes (SPEC §6). */
export interface Membership {
  /** Alive for `ttl` from now (by the Redis server's clock). */
  heartbeat(id: string): Promise<void>
  /** Gone immediately. */
  leave(id: string): Promise<void>
  /** Sorted ids whose heartbeat has not expired. */
  live(): Promise<string[]>
  /**
   * Heartbeats now and every `interval` (default ttl/3) until `stop()` (which also leaves) or
   * fleet.close() (which stops the timer and leaves too). The timer does not keep the process alive.
   */
  join(id: string, o?: { interval?: number | undefined }): MembershipHandle
  /** The owner of `key` by rendezvous hashing over the live members (or `members`); undefined if none. */
  owner(key: string, members?: string[]): Promise<string | undefined>
  /**
   * Appends `message` (any JSON value) to `to`'s inbox: a stream capped at the newest 10,000.
   * Like streams.publish, each call carries a publish id in its entry, so redfleet's retry of
   * a send whose reply was lost delivers no second copy.
   */
  send(to: string, message: unknown): Promise<void>
  /**
   * The messages of `id`'s inbox, in order: from '$' (default) those sent after iteration starts,
   * from '0' every message still in the inbox, including those sent while the reader was away.
   * Ends when `signal` aborts or the fleet closes. Messages are not removed by reading them.
   */
  inbox(
    id: string,
    o?: { signal?: AbortSignal | undefined; from?: '$' | '0' | undefined },
  ): AsyncIterable<unknown>
}

/** Most messages an inbox keeps (exact cap: older ones are trimmed as new ones arrive). */
export const INBOX_MAX_LEN = 10_000

const DEFAULT_TTL = 6000
/** The shortest ttl a member can keep by joining: it beats every 1 ms. */
const MIN_TTL = 2

class FleetMembership implements Membership {
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  readonly #scope: TraceScope
  readonly #tracer: PrimitiveTracer
  readonly #ttl: number
  readonly #key: string
  readonly #backend: MembershipBackend
  readonly #streams: StreamBackend
  /** The ids joined here and not stopped: each is joined once per membership. */
  readonly #joined = new Set<string>()
  /**
   * What fleet.close() ends: each joined id, and each stop() still leaving (close waits for its
   * leave, which it lets through; see #leaveOnStop). The fleet holds this membership's close
   * hook only while some are left, so a membership no longer joined is not kept alive by it.
   */
  readonly #ends = new Set<() => Promise<void>>()
  #unregister: (() => void) | undefined

  constructor(ctx: FleetContext, options: MembershipOptions) {
    this.#ttl = positiveInteger('membership: ttl', options.ttl, { fallback: DEFAULT_TTL })
    // join beats more often than ttl, and no timer fires more often than every millisecond.
    if (this.#ttl < MIN_TTL) {
      throw invalidOption(
        `membership: ttl must be at least ${MIN_TTL} ms (join heartbeats at an interval shorter than ttl, of at least 1 ms), got ${this.#ttl}`,
      )
    }
    if (options.onError !== undefined) functionOption(options.onError, 'membership: onError')
    this.#ctx = ctx
    this.#policy = operationPolicy(ctx, options)
    this.#scope = traceScope(ctx)
    this.#tracer = new PrimitiveTracer('membership', this.#scope)
    this.#key = ctx.keys.key('membership', 'live')
    this.#backend =
      ctx.topology === 'memory'
        ? new MemoryMembershipBackend(ctx.memory)
        : new RedisMembershipBackend(() => ctx.redis())
    this.#streams = streamBackend(ctx)
  }

  #run<T>(op: string, id: string | undefined, fn: () => Promise<T>): Promise<T> {
    return runCommand(this.#ctx, this.#policy, `membership.${op}`, id, fn)
  }

  /** Traces one public call on `redfleet:membership:<op>` (SPEC §11), validation errors included. */
  heartbeat(id: string): Promise<void> {
    return this.#tracer.run(
      'heartbeat',
      () => ({ member: id }),
      () => this.#heartbeat(id),
    )
  }

  leave(id: string): Promise<void> {
    return this.#tracer.run(
      'leave',
      () => ({ member: id }),
      () => this.#leave(id),
    )
  }

  live(): Promise<string[]> {
    return this.#tracer.run(
      'live',
      () => ({}),
      // Each caller's own array: the read is shared.
      () => this.#live('live').then((ids) => [...ids]),
    )
  }

  owner(key: string, members?: string[]): Promise<string | undefined> {
    return this.#tracer.run(
      'owner',
      () => ({ key }),
      () => this.#owner(key, members),
    )
  }

  send(to: string, message: unknown): Promise<void> {
    return this.#tracer.run(
      'send',
      () => ({ member: to }),
      () => this.#send(to, message),
    )
  }

  /**
   * Traced on `redfleet:membership:join` for as long as the member is joined: start and end when
   * it joins, asyncEnd once `stop()` (or fleet.close()) has left; each beat is a `heartbeat`.
   */
  join(id: string, o: { interval?: number } = {}): MembershipHandle {
    const trace = openTrace('membership.join', this.#scope, () => ({ member: id }))
    let handle: MembershipHandle
    try {
      handle = this.#join(id, o, trace === undefined ? undefined : () => trace.end())
    } catch (error) {
      trace?.fail(error)
      throw error
    }
    if (trace === undefined) return handle
    return {
      stop: () =>
        handle.stop().then(
          () => trace.end(),
          (error: unknown) => {
            trace.fail(error)
            throw error
          },
        ),
    }
  }

  #inboxKey(id: string): string {
    return this.#ctx.keys.key('membership', 'inbox', id)
  }

  async #heartbeat(id: string): Promise<void> {
    assertName(id, 'id', 'membership.heartbeat')
    await this.#run('heartbeat', id, () =>
      this.#change(() => this.#backend.heartbeat(this.#key, id, this.#ttl)),
    )
  }

  async #leave(id: string): Promise<void> {
    assertName(id, 'id', 'membership.leave')
    await this.#run('leave', id, () => this.#change(() => this.#backend.leave(this.#key, id)))
  }

  /** Sends a change of the live set: a read made after it is sent after it (LiveReads). */
  #change(send: () => Promise<void>): Promise<void> {
    this.#ctx.order.membership.changed(this.#key)
    return send()
  }

  /**
   * The live members' ids, sorted, read once for the calls of one turn (LiveReads); `op` names
   * the call in errors (live, or owner's read of them).
   */
  #live(op: 'live' | 'owner'): Promise<readonly string[]> {
    return this.#run(op, undefined, () =>
      this.#ctx.order.membership.read(this.#key, () => this.#backend.live(this.#key)),
    )
  }

  #join(id: string, o: { interval?: number }, closed: (() => void) | undefined): MembershipHandle {
    assertName(id, 'id', 'membership.join')
    assertCallOptions(o, 'membership.join', ['interval'])
    const interval = countArgument(
      o?.interval,
      'interval',
      'membership.join',
      // A timer holds at most MAX_TIMER_DELAY: a longer ttl still beats that often.
      Math.max(1, Math.min(MAX_TIMER_DELAY, Math.floor(this.#ttl / 3))),
    )
    if (interval > MAX_TIMER_DELAY) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `membership.join: interval must be at most ${MAX_TIMER_DELAY} ms (the longest delay a Node timer holds), got ${interval}`,
      )
    }
    if (interval >= this.#ttl) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `membership.join: interval (${interval} ms) must be shorter than ttl (${this.#ttl} ms)`,
      )
    }
    if (this.#joined.has(id)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `membership.join: '${id}' is already joined by this membership`,
      )
    }
    this.#ctx.lifecycle.assertOpen(`membership.join '${id}'`)
    const beats = startBeats(() => this.#beat(id), interval)
    this.#joined.add(id)
    // One end per join, by stop() or by fleet.close(), whichever comes first; the other awaits it.
    let ending: Promise<void> | undefined
    const end = (leave: () => Promise<void>): Promise<void> => {
      ending ??= (async () => {
        this.#joined.delete(id)
        try {
          await beats.halt()
          await leave()
        } finally {
          this.#ends.delete(close)
          if (this.#ends.size === 0) {
            this.#unregister?.()
            this.#unregister = undefined
          }
        }
      })()
      return ending
    }
    const close = async () => {
      // On fleet.close(): the fleet refuses new operations, so leave through the backend
      // directly, once. A stop() begun before close has its own leave, awaited here (its
      // failure is its caller's). A failed leave is reported: the member stays live until ttl.
      const leave = () =>
        this.#change(() => this.#backend.leave(this.#key, id)).catch((error: unknown) => {
          reportFailure(this.#policy, translateError(error, 'membership.leave', id), 'membership.leave')
        })
      await end(leave).catch(() => {})
      closed?.()
    }
    this.#ends.add(close)
    this.#unregister ??= this.#ctx.lifecycle.onClose(() => this.#closeAll())
    return { stop: () => end(() => this.#leaveOnStop(id)) }
  }

  /**
   * The leave of stop(). A stop() begun before fleet.close() (a shutdown handler calls both at
   * once) still leaves while the fleet closes: close waits for it, so it runs while the
   * connections are open. Refused, the member would stay live until ttl.
   */
  #leaveOnStop(id: string): Promise<void> {
    return this.#tracer.run(
      'leave',
      () => ({ member: id }),
      () =>
        runFinishing(this.#ctx, this.#policy, 'membership.leave', id, () =>
          this.#change(() => this.#backend.leave(this.#key, id)),
        ),
    )
  }

  /** One heartbeat of `join`: a failure is reported (after its retries); the next tick tries again. */
  #beat(id: string): Promise<void> {
    return this.heartbeat(id).catch((error: unknown) =>
      reportUnheard(this.#policy, error, 'membership.heartbeat'),
    )
  }

  async #closeAll(): Promise<void> {
    await Promise.all([...this.#ends].map((close) => close()))
  }

  async #owner(key: string, members?: string[]): Promise<string | undefined> {
    assertName(key, 'key', 'membership.owner')
    if (members !== undefined) {
      if (!Array.isArray(members)) {
        throw invalidArgument(
          'ERR_INVALID_ARGUMENT',
          `membership.owner: members must be an array of ids, got ${describeValue(members)}`,
        )
      }
      for (const member of members) assertName(member, 'member id', 'membership.owner')
      // No Redis to ask, but a closed fleet's calls all reject alike.
      this.#ctx.lifecycle.assertOpen('membership.owner')
      return rendezvousOwner(key, members)
    }
    return rendezvousOwner(key, await this.#live('owner'))
  }

  async #send(to: string, message: unknown): Promise<void> {
    assertName(to, 'id', 'membership.send')
    if (message === undefined)
      throw new SerializationError(`membership.send '${to}': undefined cannot be sent`)
    const once = newPublishId()
    // Checked as the caller's value (a problem's path starts at `value`), then wrapped as `{ message }`.
    const fields = withPublishId(`{"message":${encodeJson(message, 'membership.send', to)}}`, once)
    const write = { key: this.#inboxKey(to), fields, maxLen: INBOX_MAX_LEN, approximate: false, once }
    // The first send is a plain XADD; a retry looks for it first (src/streams/publish-ids.ts).
    let resend = false
    await this.#run('send', to, () => {
      const sending = this.#streams.append([write], undefined, resend)
      resend = true
      return sending
    })
  }

  /**
   * Argument errors are thrown here, at the call, and traced at once (SPEC §11): no iteration
   * follows that could trace them.
   */
  inbox(id: string, o: { signal?: AbortSignal; from?: '$' | '0' } = {}): AsyncIterable<unknown> {
    let after: string
    try {
      after = inboxStart(id, o)
    } catch (error) {
      openTrace('membership.inbox', this.#scope, () => ({ member: id }))?.fail(error)
      throw error
    }
    const key = this.#inboxKey(id)
    return {
      [Symbol.asyncIterator]: () => {
        // An async generator's return() waits for a next() under way, here a blocking read that
        // may wait for ever (helper-309): the iterator's return() ends that read first.
        const stop = new AbortController()
        const messages = this.#read(id, key, after, o?.signal, stop.signal)
        return {
          next: () => messages.next(),
          return: (value?: unknown) => {
            stop.abort()
            return messages.return(value)
          },
          [Symbol.asyncIterator]() {
            return this
          },
        }
      },
    }
  }

  /**
   * One iteration of an inbox, traced on `redfleet:membership:inbox` from its first `next()` until
   * it ends (abort, close, `break`) or fails.
   */
  async *#read(
    id: string,
    key: string,
    after: string,
    userSignal: AbortSignal | undefined,
    returned: AbortSignal,
  ): AsyncGenerator<unknown> {
    const trace = openTrace('membership.inbox', this.#scope, () => ({ member: id }))
    try {
      yield* this.#messages(id, key, after, userSignal, returned)
    } catch (error) {
      trace?.fail(error)
      throw error
    } finally {
      trace?.end()
    }
  }

  async *#messages(
    id: string,
    key: string,
    after: string,
    userSignal: AbortSignal | undefined,
    returned: AbortSignal,
  ): AsyncGenerator<unknown> {
    // Told as failures are (a loop reading again at once must let the event loop turn).
    if (this.#ctx.lifecycle.closed) await this.#ctx.lifecycle.refused('membership.inbox')
    const linked = linkSignals(userSignal, returned, this.#ctx.lifecycle.signal)
    try {
      const entries = readEntries({
        backend: this.#streams,
        key,
        name: id,
        after,
        signal: linked.signal,
        op: 'membership.inbox',
        onError: (error) => this.#policy.onError(error, 'membership.inbox'),
      })
      for await (const { envelope } of entries) {
        // Inbox entries are `{ message }`; anything else in the stream was not sent by send().
        if (Object.hasOwn(envelope, 'message')) yield envelope.message
      }
    } finally {
      linked.unlink()
    }
  }
}

/** Checks `inbox`'s arguments and returns the id after which it reads. */
function inboxStart(id: string, o: { signal?: AbortSignal; from?: '$' | '0' }): string {
  assertName(id, 'id', 'membership.inbox')
  assertCallOptions(o, 'membership.inbox', ['signal', 'from'])
  assertSignal(o?.signal, 'membership.inbox')
  const from = o?.from ?? '$'
  if (from !== '$' && from !== '0') {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `membership.inbox: from must be '$' or '0', got ${describeValue(from)}`,
    )
  }
  return from === '0' ? START_ID : '$'
}

export function createMembership(ctx: FleetContext, options: MembershipOptions = {}): Membership {
  checkOptions(options, MEMBERSHIP_OPTIONS, { what: 'membership options' })
  return new FleetMembership(ctx, options)
}
