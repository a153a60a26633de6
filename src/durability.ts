/**
 * Durability of writes (SPEC §10): after a write, `WAIT replicas timeout` (and `WAITAOF 1 0
 * timeout` when `aof`) on the connection that wrote it. WAIT counts the writes of the connection
 * it is sent on, so the write and its WAIT travel in one pipeline to the node of the key; the
 * write is never undone when the acknowledgements fall short, the caller gets DurabilityError.
 *
 * A WAIT holds its connection until it is answered (at most `timeout`), and the commands pipelined
 * behind it on that connection wait with it: the connection's deadlines give it, and them,
 * `timeout` on top of `commandTimeout` (blocksFor in transport/deadlines.ts).
 */
import {
  APPLIED_BESIDE,
  DurabilityError,
  isNoScript,
  messageOf,
  partlyApplied,
  type WaitFor,
} from './errors.ts'
import { execFollowingMigration } from './topology/migrating-pipeline.ts'
import type { Script } from './topology/script.ts'
import type { Client } from './topology/types.ts'
import type { PipelineReply } from './transport/pipeline-reply.ts'
import type { CommandPipeline } from './transport/types.ts'
import {
  booleanOption,
  invalidArgument,
  MAX_TIMER_DELAY,
  numberOption,
  type OptionCheck,
  objectOption,
} from './validate.ts'

/** SPEC §10 default for `waitFor.timeout`, in ms. */
export const DEFAULT_WAIT_TIMEOUT = 100

/** A WaitFor with its defaults applied, for a write that has something to wait for. */
export interface Durability {
  readonly replicas: number
  readonly aof: boolean
  readonly timeout: number
  /** What the caller asked for, as given: DurabilityError reports it. */
  readonly wanted: WaitFor
  /** The call, as DurabilityError names it (`store.set 'k'`, the caller's key); else the command's. */
  readonly where?: string
}

/** The `waitFor` option of a primitive (ConfigError from its factory when malformed). */
export const waitForOption: OptionCheck = objectOption({
  replicas: numberOption({ min: 0, integer: true }),
  aof: booleanOption,
  // WAIT and WAITAOF read a timeout of 0 as "for ever": blocked on the node's command
  // connection, every later command on it would wait behind them.
  // At most what a Node timer holds, as the fleet's own timeouts.
  timeout: numberOption({ min: 1, max: MAX_TIMER_DELAY, integer: true }),
})

/** A per-call `{ waitFor }`: like the option, but a bad one is a TypeError of the call. */
export function assertWaitFor(waitFor: unknown, op: string): WaitFor | undefined {
  if (waitFor === undefined) return undefined
  try {
    waitForOption(waitFor, 'waitFor')
  } catch (error) {
    throw invalidArgument('ERR_INVALID_ARGUMENT', `${op}: ${messageOf(error)}`)
  }
  return waitFor as WaitFor
}

/** What a write must wait for, or undefined when there is nothing (no replicas, no AOF). */
export function durabilityOf(wanted: WaitFor | undefined): Durability | undefined {
  if (wanted === undefined) return undefined
  const replicas = wanted.replicas ?? 0
  const aof = wanted.aof ?? false
  if (replicas === 0 && !aof) return undefined
  return { replicas, aof, timeout: wanted.timeout ?? DEFAULT_WAIT_TIMEOUT, wanted }
}

/** Appends the acknowledgements `durability` asks for to a pipeline, after its write commands. */
export function appendWaits(pipe: CommandPipeline, durability: Durability): void {
  if (durability.replicas > 0) pipe.call('WAIT', durability.replicas, durability.timeout)
  if (durability.aof) pipe.call('WAITAOF', 1, 0, durability.timeout)
}

/** How many replies `appendWaits` adds. */
export function waitReplies(durability: Durability): number {
  return (durability.replicas > 0 ? 1 : 0) + (durability.aof ? 1 : 0)
}

/**
 * Judges the replies of `appendWaits` (as a pipeline returns them, `[error, reply]`): resolves
 * when every acknowledgement asked for came, otherwise throws DurabilityError with the counts
 * reached. A WAITAOF the server refuses (before Redis 7.2, or appendonly off) counts as no AOF.
 */
export function checkWaits(replies: readonly PipelineReply[], durability: Durability, where: string): void {
  let at = 0
  let replicas = 0
  let localAof = false
  const problems: string[] = []
  if (durability.replicas > 0) {
    const [error, reply] = replies[at++] ?? [new Error('no reply to WAIT'), undefined]
    if (error) {
      problems.push(`WAIT failed: ${error.message}`)
    } else replicas = Number(reply)
    if (replicas < durability.replicas) {
      problems.push(`${replicas} of ${durability.replicas} replicas acknowledged`)
    }
  }
  if (durability.aof) {
    const [error, reply] = replies[at++] ?? [new Error('no reply to WAITAOF'), undefined]
    if (error) {
      problems.push(`WAITAOF failed: ${error.message}`)
    } else localAof = Number((reply as unknown[])[0]) >= 1
    if (!error && !localAof) problems.push('the local AOF was not fsynced')
  }
  if (problems.length === 0) return
  throw new DurabilityError(
    `${where}: written, but not confirmed as durable within ${durability.timeout} ms (${problems.join('; ')})`,
    { replicas, localAof, wanted: durability.wanted },
  )
}

/** Adds a script call to a pipeline: by SHA, or (after NOSCRIPT) with its source. */
export function pipeScript(
  pipe: CommandPipeline,
  script: Script,
  keys: readonly string[],
  args: readonly (string | number)[],
  withSource: boolean,
): void {
  if (withSource) pipe.eval(script.lua, keys.length, ...keys, ...args)
  else pipe.evalsha(script.sha, keys.length, ...keys, ...args)
}

/**
 * Sends a write and the acknowledgements `durability` asks for (none when undefined) in one
 * pipeline on `client` (the client of the written keys: a Cluster routes the pipeline by them),
 * and resolves with the replies of the write's commands once they are confirmed. `write` adds
 * the commands; its `withSource` is true on the one resend after a node answered NOSCRIPT to a
 * script (see pipeScript), when nothing was written. A failed write command rejects with its error.
 * `wrote` tells from the write's replies whether it wrote anything (a lost claim did not): only
 * then are the acknowledgements judged.
 */
export async function writeDurably(
  client: Client,
  durability: Durability | undefined,
  where: string,
  write: (pipe: CommandPipeline, withSource: boolean) => void,
  wrote: (replies: unknown[]) => boolean = () => true,
  withSource = false,
): Promise<unknown[]> {
  const pipe = client.pipeline()
  write(pipe, withSource)
  const count = pipe.length
  if (durability) appendWaits(pipe, durability)
  const replies = ((await execFollowingMigration(pipe, client)) ?? []) as PipelineReply[]
  const failed = replies.slice(0, count).find(([error]) => error)
  if (failed) {
    if (!withSource && isNoScript(failed[0])) {
      return writeDurably(client, durability, where, write, wrote, true)
    }
    throw replies.slice(0, count).some(([error]) => !error)
      ? partlyApplied(failed[0], APPLIED_BESIDE)
      : failed[0]
  }
  const written = replies.slice(0, count).map(([, reply]) => reply)
  if (durability && wrote(written)) checkWaits(replies.slice(count), durability, where)
  return written
}
