import { replyError } from '../errors.ts'
import { type Script, scriptFile } from './script.ts'
import type { Client } from './types.ts'

/** GET of many keys in one step, each answered as a GET would (WRONGTYPE included). */
const GET_EACH = scriptFile(new URL('./lua/get-each-n.lua', import.meta.url))
/** SET of many keys in one step, each with its own TTL and NX. */
const SET_EACH = scriptFile(new URL('./lua/set-each-n.lua', import.meta.url))

/**
 * Keys per step at most: a step runs alone on the server, and the next step can be on its way
 * while the server runs this one.
 */
export const MAX_BATCH = 64

/** One SET: its value, TTL in ms (none if undefined) and NX. */
export interface SetCommand {
  readonly value: string
  readonly ttl: number | undefined
  readonly nx: boolean
}

type Reply = string | null
/** A step's answer for one key: its reply, or the error its own command answered. */
type StepReply = Reply | [error: string]

interface Pending {
  readonly kind: 'get' | 'set'
  readonly keys: string[]
  /** ARGV of a set step: three per key (see set-each-n.lua). */
  readonly args: string[]
  readonly resolves: ((reply: Reply) => void)[]
  readonly rejects: ((error: unknown) => void)[]
}

/**
 * The single-key GETs and SETs made within one tick to one server, sent as one Lua step per run of
 * calls of one kind instead of one command each. At high concurrency most of a call's cost is
 * the client's per-command work (a command object, its promise and timer, its share of the write
 * and of parsing): many calls sharing one command cost the client far less, which is how 256
 * concurrent callers outrun a client that sends one command per call. A lone call is sent as its
 * plain command, at the end of its tick.
 *
 * Order (SPEC §2): a call of the other kind sends what is pending first, and the owner calls
 * `flush()` before anything else is sent to the server, so every call goes out ahead of every
 * command made after it, as if it had been sent at once.
 */
export class TickBatch {
  #pending: Pending | undefined
  /** The connection a step goes out on (without flushing again). */
  readonly #connection: () => Client
  /**
   * Scripts the server has run (by EVAL): EVALSHA finds them. A step sends its script itself
   * until then, since EVALSHA's NOSCRIPT fallback would send the calls late, after commands made
   * after them. After a restart (or SCRIPT FLUSH) that fallback happens once.
   */
  readonly #loaded = new Set<Script>()

  constructor(connection: () => Client) {
    this.#connection = connection
  }

  get(key: string): Promise<Reply> {
    return this.#add('get', key)
  }

  set(key: string, { value, ttl, nx }: SetCommand): Promise<Reply> {
    return this.#add('set', key, value, ttl === undefined ? '' : String(ttl), nx ? '1' : '')
  }

  #add(kind: Pending['kind'], key: string, ...args: string[]): Promise<Reply> {
    let pending = this.#pending
    if (pending?.kind !== kind) {
      this.flush()
      pending = { kind, keys: [], args: [], resolves: [], rejects: [] }
      this.#pending = pending
      process.nextTick(this.flush)
    }
    pending.keys.push(key)
    pending.args.push(...args)
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
    const { resolves, rejects } = pending
    this.#send(this.#connection(), pending).then(
      (replies) => {
        for (let i = 0; i < resolves.length; i++) {
          const reply = replies[i] ?? null
          if (Array.isArray(reply)) rejects[i]!(replyError(String(reply[0])))
          else resolves[i]!(reply)
        }
      },
      (error: unknown) => {
        for (const reject of rejects) reject(error)
      },
    )
  }

  async #send(client: Client, { kind, keys, args }: Pending): Promise<StepReply[]> {
    if (keys.length === 1) return [await sendOne(client, kind, keys[0]!, args)]
    const script = kind === 'get' ? GET_EACH : SET_EACH
    if (this.#loaded.has(script)) return (await script.run(client, keys, args)) as StepReply[]
    const replies = await client.eval(script.lua, keys.length, ...keys, ...args)
    this.#loaded.add(script)
    return replies as StepReply[]
  }
}

/** A lone call as its plain command. */
function sendOne(
  client: Client,
  kind: Pending['kind'],
  key: string,
  [value, ttl, nx]: string[],
): Promise<Reply> {
  if (kind === 'get') return client.get(key)
  return sendSet(client, key, { value: value!, ttl: ttl === '' ? undefined : Number(ttl), nx: nx === '1' })
}

/** SET with the options of one write. */
export function sendSet(client: Client, key: string, { value, ttl, nx }: SetCommand): Promise<Reply> {
  if (ttl === undefined) return nx ? client.set(key, value, 'NX') : client.set(key, value)
  return nx ? client.set(key, value, 'PX', ttl, 'NX') : client.set(key, value, 'PX', ttl)
}
