import { replyError } from '../errors.ts'
import { scriptFile } from './script.ts'
import type { Client } from './types.ts'

/** GET of many keys in one step, each answered as a GET would (WRONGTYPE included). */
const GET_EACH = scriptFile(new URL('./lua/get-each-n.lua', import.meta.url))

/**
 * Keys per step at most: a step runs alone on the server, and 256 GETs take it about as long as
 * one slow command.
 */
export const MAX_BATCH = 64

/**
 * The single-key reads (GET) made within one tick to one server, sent as one step
 * (get-each-n.lua) instead of one command each. At high concurrency most of a read's cost is the
 * client's per-command work (a command object, its promise and timer, its share of the write and
 * of parsing): many reads sharing one command cost the client far less, which is how 256
 * concurrent callers outrun a client that sends one GET per call. A lone read is sent as a
 * plain GET, at the end of its tick.
 *
 * Order (SPEC §2): the owner calls `flush()` before anything else is sent to the server, so
 * the reads go out ahead of every command made after them, as if each had been sent at once.
 */
export class GetBatch {
  #keys: string[] = []
  #resolves: ((text: string | null) => void)[] = []
  #rejects: ((error: unknown) => void)[] = []
  /** The connection a batch goes out on (without flushing again). */
  readonly #connection: () => Client
  /**
   * The server has run the script (by EVAL): EVALSHA finds it. The first batch sends the script
   * itself, since EVALSHA's NOSCRIPT fallback would send the reads late, after commands made
   * after them. After a restart (or SCRIPT FLUSH) that fallback happens once.
   */
  #loaded = false

  constructor(connection: () => Client) {
    this.#connection = connection
  }

  get(key: string): Promise<string | null> {
    if (this.#keys.length === 0) process.nextTick(this.flush)
    this.#keys.push(key)
    const reply = new Promise<string | null>((resolve, reject) => {
      this.#resolves.push(resolve)
      this.#rejects.push(reject)
    })
    if (this.#keys.length === MAX_BATCH) this.flush()
    return reply
  }

  /** Sends the pending reads now, if any. */
  readonly flush = (): void => {
    const keys = this.#keys
    if (keys.length === 0) return
    const resolves = this.#resolves
    const rejects = this.#rejects
    this.#keys = []
    this.#resolves = []
    this.#rejects = []
    const client = this.#connection()
    if (keys.length === 1) {
      client.get(keys[0]!).then(resolves[0], rejects[0])
      return
    }
    this.#send(client, keys).then(
      (replies) => settleEach(replies as (string | null | [string])[], resolves, rejects),
      (error: unknown) => {
        for (const reject of rejects) reject(error)
      },
    )
  }

  async #send(client: Client, keys: string[]): Promise<unknown> {
    if (this.#loaded) return GET_EACH.run(client, keys, [])
    const replies = await client.eval(GET_EACH.lua, keys.length, ...keys)
    this.#loaded = true
    return replies
  }
}

function settleEach(
  replies: readonly (string | null | [string])[],
  resolves: readonly ((text: string | null) => void)[],
  rejects: readonly ((error: unknown) => void)[],
): void {
  for (let i = 0; i < resolves.length; i++) {
    const reply = replies[i] ?? null
    if (Array.isArray(reply)) rejects[i]!(replyError(String(reply[0])))
    else resolves[i]!(reply)
  }
}
