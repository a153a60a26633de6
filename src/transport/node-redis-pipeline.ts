import { commandArgs } from './node-redis-client.ts'
import type { CommandArg, CommandPipeline, PipelineReplies } from './types.ts'

/** Sends one command (as node-redis takes it) and resolves with its reply. */
export type Send = (args: (string | Buffer)[]) => Promise<unknown>

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
    return Promise.all(
      this.#commands.map(([args, send], i) =>
        send(args).then(
          (reply): [null, unknown] => [null, this.#shapes.get(i)?.(reply) ?? reply],
          (error: Error): [Error, undefined] => [error, undefined],
        ),
      ),
    )
  }
}
