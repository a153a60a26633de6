import { fewestAcknowledgements, WAIT_COMMANDS, WAIT_NOT_FOLLOWED } from '../acknowledgements.ts'
import { commandArgs } from './node-redis-client.ts'
import { asPipelineReply, type PipelineReply } from './pipeline-reply.ts'
import { sentPerKey, splitsWrite } from './split-keys.ts'
import type { CommandArg, CommandPipeline, PipelineReplies } from './types.ts'

/**
 * Sends one command (as node-redis takes it) and resolves with its reply. `resent` is told when
 * the command was run elsewhere or later than it was sent (a cluster's MOVED, ASK, CLUSTERDOWN):
 * with a send to the connection that ran it, or undefined when that is not known.
 */
export type Send = (args: (string | Buffer)[], resent?: Resent) => Promise<unknown>

/** Told of a command run elsewhere or later than it was sent (see Send). */
export type Resent = (ranOn: Send | undefined) => void

/** A flat [field, value, ...] reply as ioredis shapes HGETALL: an object of the fields. */
function fieldsObject(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  const flat = reply as string[]
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

/**
 * Commands queued by the backends and sent together by `exec`: node-redis writes every command
 * sent within one tick in one write, so a pipeline is simply its commands sent back to back.
 */
export class NodeRedisPipeline implements CommandPipeline {
  #send: Send
  /** Each command with the `send` it was added under. */
  readonly #commands: [args: (string | Buffer)[], send: Send][] = []
  /** Reshapes a reply the way ioredis would hand it over (HGETALL), by command index. */
  readonly #shapes = new Map<number, (reply: unknown) => unknown>()
  /** The indexes of its WAIT and WAITAOF commands. */
  readonly #waits: number[] = []

  constructor(send: Send) {
    this.#send = send
  }

  get length(): number {
    return this.#commands.length
  }

  /**
   * Sends the commands added from now on with `send`: a cluster's pipeline per master carries
   * several slots, and each slot's commands go by the route that follows that slot (a MOVED one
   * is sent again where the slot went).
   */
  routeTo(send: Send): this {
    this.#send = send
    return this
  }

  call(command: string, ...args: CommandArg[]): this {
    if (WAIT_COMMANDS.has(command)) this.#waits.push(this.#commands.length)
    this.#commands.push([commandArgs(command, args), this.#send])
    return this
  }

  get(key: string): this {
    return this.call('GET', key)
  }

  set(key: string, value: string, ...options: (string | number)[]): this {
    return this.call('SET', key, value, ...options)
  }

  mset(...keysAndValues: string[]): this {
    return this.call('MSET', ...keysAndValues)
  }

  mget(...keys: string[]): this {
    return this.call('MGET', ...keys)
  }

  unlink(...keys: string[]): this {
    return this.call('UNLINK', ...keys)
  }

  eval(script: string, numKeys: number, ...keysAndArgs: CommandArg[]): this {
    return this.call('EVAL', script, numKeys, ...keysAndArgs)
  }

  evalsha(sha: string, numKeys: number, ...keysAndArgs: CommandArg[]): this {
    return this.call('EVALSHA', sha, numKeys, ...keysAndArgs)
  }

  hgetall(key: string): this {
    this.#shapes.set(this.#commands.length, fieldsObject)
    return this.call('HGETALL', key)
  }

  xrange(key: string, start: string, end: string): this {
    return this.call('XRANGE', key, start, end)
  }

  zrange(key: string, start: string, stop: string, withScores: 'WITHSCORES'): this {
    return this.call('ZRANGE', key, start, stop, withScores)
  }

  time(): this {
    return this.call('TIME')
  }

  exec(): Promise<PipelineReplies> {
    return this.#waits.length === 0 ? this.#sendAll() : this.#execDurably()
  }

  /** Each command with its `send`; `resent` hears of the ones run elsewhere or later, by index. */
  #sendAll(resent?: (index: number, ranOn: Send | undefined) => void): Promise<PipelineReplies> {
    return Promise.all(
      this.#commands.map(([args, send], i) =>
        sendSplitting(args, send, resent && ((ranOn) => resent(i, ranOn))).then(
          (reply): [null, unknown] => [null, this.#shapes.get(i)?.(reply) ?? reply],
          (error: Error): [Error, undefined] => [error, undefined],
        ),
      ),
    )
  }

  /**
   * A WAIT counts the writes of the connection it is sent on. On a cluster each command follows
   * its own MOVED, so a write redirected to a slot's new master left its WAIT on the old one, which
   * confirmed replicas for a write it never held (helper-221): the acknowledgements are asked
   * again where each such write ran, and the fewest count.
   */
  async #execDurably(): Promise<PipelineReplies> {
    const ranOn = new Map<number, (Send | undefined)[]>()
    const replies = await this.#sendAll((index, send) => {
      if (!this.#waits.includes(index)) ranOn.set(index, [...(ranOn.get(index) ?? []), send])
    })
    if (ranOn.size === 0) return replies
    const sends = [...ranOn.values()].flat()
    const writes = this.#commands.length - this.#waits.length
    await Promise.all(
      this.#waits.map(async (i) => {
        const asked = await this.#askAgain(this.#commands[i]![0], sends)
        // The first answer counts only while some write stayed where the WAIT was sent.
        replies[i] = fewestAcknowledgements(ranOn.size < writes ? [replies[i]!, ...asked] : asked)
      }),
    )
    return replies
  }

  #askAgain(args: (string | Buffer)[], sends: (Send | undefined)[]): Promise<PipelineReplies> {
    return Promise.all(
      sends.map((send): Promise<PipelineReply> => {
        if (!send) return Promise.resolve([new Error(WAIT_NOT_FOLLOWED), undefined])
        return asPipelineReply(send(args))
      }),
    )
  }
}

/**
 * `args` by `send`; a command of several keys refused with TRYAGAIN (a slot halfway through a
 * migration) is sent again as one command per key (sentPerKey). Such a write's keys ran wherever
 * each one was, after the pipeline's WAIT: `resent` is told it ran where no WAIT can be asked.
 */
function sendSplitting(args: (string | Buffer)[], send: Send, resent: Resent | undefined): Promise<unknown> {
  return send(args, resent).catch((error: unknown) => {
    const name = String(args[0])
    const split = sentPerKey(error, name, args.slice(1), (command, keyArgs) =>
      send(commandArgs(command, keyArgs), resent),
    )
    if (split === undefined) throw error
    if (splitsWrite(name)) resent?.(undefined)
    return split
  })
}
