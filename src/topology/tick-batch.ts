import { isWrongType } from '../errors.ts'
import { scriptFile } from './script.ts'
import type { Client } from './types.ts'

/** SET of many keys in one step, each with its own TTL. */
const SET_EACH = scriptFile(new URL('./lua/set-each-n.lua', import.meta.url))

/**
 * Keys per step at most: a step runs alone on the server, and the next step can be on its way
 * while the server runs this one.
 */
export const MAX_BATCH = 64

/** One SET: its value and TTL in ms (none if undefined). */
export interface SetCommand {
  readonly value: string
  readonly ttl: number | undefined
}

type Reply = string | null

/** What one call of a step failed with (its own command's error), in place of its reply. */
class Failed {
  constructor(readonly error: unknown) {}
}

interface Pending {
  readonly kind: 'get' | 'set'
  readonly keys: string[]
  /** A set step's SETs, one per key. */
  readonly sets: SetCommand[]
  readonly resolves: ((reply: Reply) => void)[]
  readonly rejects: ((error: unknown) => void)[]
}

/** Keys of one step of multi-key reads at most; a call of more is sent alone. */
export const MAX_MANY_KEYS = 1024

/** A run of the step's keys: one call's keys, as it gave them, and where they start in the MGET. */
interface Segment {
  readonly keys: readonly string[]
  readonly offset: number
}

/**
 * The multi-key reads of one step: one MGET of the calls' keys, one after the other, except that
 * a call asking for the same keys as an earlier call of the step (a page's items, read by every
 * request) shares that call's run of the MGET instead of adding its own. Keys are matched by run,
 * not one by one: callers reading keys of their own add no index to build and no garbage.
 */
class ManyReads {
  readonly kind = 'many'
  /** The MGET's keys, each call's run once: the first run itself while it is the only one. */
  keys: readonly string[] = []
  /** `keys` once a second run made them an array of the step's own. */
  #own: string[] | undefined
  /** The step's runs by their first key: where a call asking for the same keys finds its run. */
  readonly #runs = new Map<string, Segment[]>()
  /** Per call, its run. */
  readonly #segments: Segment[] = []
  readonly #resolves: ((replies: Reply[]) => void)[] = []
  readonly #rejects: ((error: unknown) => void)[] = []

  /** Adds a call for `keys` (never empty); its answer. */
  join(keys: readonly string[]): Promise<Reply[]> {
    this.#segments.push(this.#shared(keys) ?? this.#append(keys))
    return new Promise<Reply[]>((resolve, reject) => {
      this.#resolves.push(resolve)
      this.#rejects.push(reject)
    })
  }

  /** An earlier call's run of the same keys in the same order. */
  #shared(keys: readonly string[]): Segment | undefined {
    const runs = this.#runs.get(keys[0]!)
    return runs?.find((run) => run.keys === keys || sameKeys(run.keys, keys))
  }

  #append(keys: readonly string[]): Segment {
    const run = { keys, offset: this.keys.length }
    if (run.offset === 0) this.keys = keys
    else {
      this.#own ??= [...this.keys]
      for (const key of keys) this.#own.push(key)
      this.keys = this.#own
    }
    const runs = this.#runs.get(keys[0]!)
    if (runs === undefined) this.#runs.set(keys[0]!, [run])
    else runs.push(run)
    return run
  }

  send(client: Client): void {
    let reading: Promise<Reply[]>
    try {
      reading = client.mget(...this.keys)
    } catch (error) {
      // Thrown, not rejected (a client that refuses as it is called): every call fails.
      reading = Promise.reject(error)
    }
    reading.then(
      (replies) => {
        for (let i = 0; i < this.#resolves.length; i++) {
          const { offset, keys } = this.#segments[i]!
          // The reply itself for the first call when its run is all of it; a copy for any other.
          const whole = i === 0 && keys.length === replies.length
          this.#resolves[i]!(whole ? replies : replies.slice(offset, offset + keys.length))
        }
      },
      (error: unknown) => {
        for (const reject of this.#rejects) reject(error)
      },
    )
  }
}

/** The same keys in the same order. */
function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The GETs, SETs and multi-key reads made within one tick on one connection, sent as one step
 * per run of calls of one kind instead of one command each. At high concurrency most of a call's
 * cost is the client's per-command work (a command object, its promise, its share of the write
 * and of parsing): many calls sharing one command cost the client far less, and the server too.
 * A lone call is sent as its plain command, at the end of its tick.
 *
 * - GETs: one MGET (see #getEach). MGET answers nil for a missing key and for a key of another
 *   type alike, where GET answers WRONGTYPE (SPEC §3), so a step that finds a key missing asks
 *   which it was.
 * - SETs: one MSET when none has a TTL, else set-each-n.lua.
 * - Multi-key reads (a store's getMany, a cache's readMulti): one MGET of the calls' keys, in
 *   which the calls asking for the same keys in the same order share one run (ManyReads), each
 *   call answered in its own key order, as its own MGET would answer it. Calls that read the same
 *   keys at once (a page's items, read by every request) cost the client one reply's decoding
 *   instead of one per call.
 *
 * Order (SPEC §2): a call of the other kind sends what is pending first, and the owner calls
 * `flush()` before anything else is sent to the server, so every call goes out ahead of every
 * command made after it, as if it had been sent at once.
 */
export class TickBatch {
  #pending: Pending | ManyReads | undefined
  /** Whether the last step of GETs found a key missing: the next one counts the keys (#getEach). */
  #missed = false
  /** The connection a step goes out on (without flushing again). */
  readonly #connection: () => Client
  constructor(connection: () => Client) {
    this.#connection = connection
  }

  get(key: string): Promise<Reply> {
    return this.#add('get', key)
  }

  set(key: string, command: SetCommand): Promise<Reply> {
    return this.#add('set', key, command)
  }

  /**
   * MGET of `keys` (never empty), the reply in their order. A call joins the pending step while
   * the step stays within MAX_MANY_KEYS; a call of that many keys or more is a step of its own,
   * sent at once.
   */
  getMany(keys: readonly string[]): Promise<Reply[]> {
    const pending = this.#pending
    if (pending?.kind === 'many' && pending.keys.length + keys.length <= MAX_MANY_KEYS)
      return pending.join(keys)
    const reads = new ManyReads()
    const reply = reads.join(keys)
    if (keys.length < MAX_MANY_KEYS) this.#begin(reads)
    else {
      this.flush()
      reads.send(this.#connection())
    }
    return reply
  }

  /** Sends what is pending, then makes `step` the pending one, sent at the end of the tick. */
  #begin(step: Pending | ManyReads): void {
    this.flush()
    this.#pending = step
    process.nextTick(this.flush)
  }

  #add(kind: Pending['kind'], key: string, set?: SetCommand): Promise<Reply> {
    let pending = this.#pending
    if (pending?.kind !== kind) {
      pending = { kind, keys: [], sets: [], resolves: [], rejects: [] }
      this.#begin(pending)
    }
    pending.keys.push(key)
    if (set !== undefined) pending.sets.push(set)
    const reply = new Promise<Reply>((resolve, reject) => {
      pending.resolves.push(resolve)
      pending.rejects.push(reject)
    })
    if (pending.keys.length === MAX_BATCH) this.flush()
    return reply
  }

  /** Sends the pending calls now, if any. */
  readonly flush = (): void => {
    const pending = this.#pending
    if (pending === undefined) return
    this.#pending = undefined
    if (pending.kind === 'many') {
      pending.send(this.#connection())
      return
    }
    const { resolves, rejects } = pending
    this.#send(this.#connection(), pending).then(
      (replies) => {
        for (let i = 0; i < resolves.length; i++) {
          const reply = replies[i]
          if (reply instanceof Failed) rejects[i]!(reply.error)
          else resolves[i]!(reply ?? null)
        }
      },
      (error: unknown) => {
        for (const reject of rejects) reject(error)
      },
    )
  }

  async #send(client: Client, { kind, keys, sets }: Pending): Promise<(Reply | Failed)[]> {
    if (kind === 'get') {
      return keys.length === 1 ? [await client.get(keys[0]!)] : this.#getEach(client, keys)
    }
    if (keys.length === 1) return [await sendSet(client, keys[0]!, sets[0]!)]
    if (sets.every((set) => set.ttl === undefined)) {
      const args: string[] = []
      for (let i = 0; i < keys.length; i++) args.push(keys[i]!, sets[i]!.value)
      await client.call('MSET', ...args)
      return keys.map(() => 'OK')
    }
    // ARGV of set-each-n.lua: per key its value and TTL ('' for none).
    const args = sets.flatMap(({ value, ttl }) => [value, ttl === undefined ? '' : String(ttl)])
    // Script.run sends the source until the node has run it: in order with the calls after it.
    return (await SET_EACH.run(client, keys, args)) as Reply[]
  }

  /**
   * The GETs of a step (see TickBatch), one MGET. A key MGET found nothing for is missing or holds
   * another type, which its own GET would fail with WRONGTYPE:
   *
   * - While steps find every key (a hot cache), the MGET goes alone, and a step that finds a key
   *   missing asks afterwards, with EXISTS, whether any of those keys exists.
   * - After a step that found a key missing, the next ones go as MULTI MGET EXISTS EXEC, whose
   *   count answers in the same round trip, so that reads of keys not there (a cold cache) wait for
   *   no second one (`#missed`).
   *
   * When a key MGET found nothing for exists, its read is asked again as a GET (readAgain).
   */
  async #getEach(client: Client, keys: readonly string[]): Promise<(Reply | Failed)[]> {
    let values: Reply[]
    let existing: number | undefined
    if (this.#missed) [values, existing] = await mgetCounting(client, keys)
    else values = (await client.mget(...keys)) as Reply[]
    const missing: string[] = []
    for (let i = 0; i < keys.length; i++) if (values[i] === null) missing.push(keys[i]!)
    this.#missed = missing.length > 0
    if (missing.length === 0) return values
    // How many of the keys MGET found nothing for exist: counted by the transaction, or asked after
    // the MGET (then keys written since count too).
    let there: number
    try {
      there =
        existing === undefined
          ? ((await client.call('EXISTS', ...missing)) as number)
          : existing - (keys.length - missing.length)
    } catch {
      // The MGET found nothing there: its answer stands (a read failed now would be retried after
      // the calls made after it, and could read what they wrote).
      return values
    }
    if (there === 0) return values
    return Promise.all(values.map((value, i) => (value !== null ? value : readAgain(client, keys[i]!))))
  }
}

/** MGET and EXISTS of `keys` in one transaction: the values, and how many of the keys exist. */
async function mgetCounting(client: Client, keys: readonly string[]): Promise<[Reply[], number]> {
  // Sent together, in this order, with nothing between them on the connection. Only EXEC's reply
  // says anything; the others' errors (a lost connection) are EXEC's too, but for one.
  const queued = [client.call('MULTI'), client.call('MGET', ...keys), client.call('EXISTS', ...keys)]
  for (const reply of queued) reply.catch(() => undefined)
  return (await exec(client, queued)) as [Reply[], number]
}

/**
 * The read of a key its step's MGET found nothing for, asked again as GET once the step is
 * answered: the error of a key of another type (WRONGTYPE), else nil. A value it finds was
 * written after the step, so the read, which is ordered before that write, answers nil; so does
 * a GET that fails (a lost connection), for the same reason as in #getEach. Asked after the step,
 * a key of another type that a later call of this process overwrote or deleted meanwhile reads
 * as nil, not WRONGTYPE (nothing tells it from a key that was missing).
 */
function readAgain(client: Client, key: string): Promise<Reply | Failed> {
  return client.get(key).then(
    () => null,
    (error: unknown) => (isWrongType(error) ? new Failed(error) : null),
  )
}

/**
 * EXEC of the commands `queued` after MULTI. When it fails with EXECABORT, the error is the one
 * that made it: a command the server refused as it was queued (LOADING while it loads its data,
 * say), which is what each call's own GET would have met, and which says whether repeating it
 * may help. Their replies came before EXEC's, so they have settled.
 */
async function exec(client: Client, queued: readonly Promise<unknown>[]): Promise<unknown> {
  try {
    return await client.call('EXEC')
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('EXECABORT')) throw error
    const settled = await Promise.allSettled(queued)
    const refused = settled.find((reply): reply is PromiseRejectedResult => reply.status === 'rejected')
    throw refused === undefined ? error : refused.reason
  }
}

/** SET's arguments for one write: the key, the value, then PX as it asks. */
export function setArguments(key: string, { value, ttl }: SetCommand): (string | number)[] {
  const args: (string | number)[] = [key, value]
  if (ttl !== undefined) args.push('PX', ttl)
  return args
}

/** SET with the options of one write (named in lower case, as ioredis names its own `set`). */
export function sendSet(client: Client, key: string, command: SetCommand): Promise<Reply> {
  return client.call('set', ...setArguments(key, command)) as Promise<Reply>
}
