import type { Cluster, Redis } from 'ioredis'
import { fewestAcknowledgements, WAIT_COMMANDS, WAIT_NOT_FOLLOWED } from '../acknowledgements.ts'
import { messageOf } from '../errors.ts'
import type { CommandArg, CommandPipeline, PipelineReplies } from '../transport/types.ts'
import type { Client } from './types.ts'

/** A command as an ioredis pipeline queues it (`_queue`, not in its typings). */
interface QueuedCommand {
  readonly name: string
  readonly args: CommandArg[]
}

/** The parts of an ioredis Pipeline this module reads. */
interface IoredisPipeline {
  readonly isCluster?: boolean
  readonly _queue?: readonly QueuedCommand[]
}

/** An ASK reply: the key is not on the master it was sent to, ask `node` (importing it). */
const ASK = /^ASK \d+ (\S+)/

/**
 * Sends `pipe` and returns its replies. On an ioredis Cluster, a command answered ASK is sent
 * again on its own through `client`, which follows the ASK (ASKING, then the command, on the
 * importing master): ioredis sends a pipeline again where an ASK points only when every failed
 * command got that ASK and every other one was a read. In the middle of a slot's migration a
 * pipeline of writes has keys still on the source (written) and keys already moved (ASK), and
 * ioredis handed the ASKs back: a writeMulti failed for as long as the migration ran. An ASK
 * means the command ran nowhere, so sending it again applies it once.
 */
export async function execFollowingAsks(
  pipe: CommandPipeline,
  client: Client,
): Promise<PipelineReplies | null> {
  const queued = pipe as unknown as IoredisPipeline
  // What was queued, as it was before exec (a retry of ioredis' own rebuilds the queue).
  const commands = queued.isCluster === true && queued._queue ? [...queued._queue] : undefined
  const replies = await pipe.exec()
  if (!commands || !replies?.some(([error]) => error && ASK.test(error.message))) return replies
  return followAsks(client as unknown as Cluster, commands, replies)
}

async function followAsks(
  cluster: Cluster,
  commands: readonly QueuedCommand[],
  replies: PipelineReplies,
): Promise<PipelineReplies> {
  const waits: number[] = []
  const asked = new Map<number, string>()
  commands.forEach(({ name }, i) => {
    if (WAIT_COMMANDS.has(name.toUpperCase())) waits.push(i)
    else {
      const ask = ASK.exec(messageOf(replies[i]?.[0]))
      if (ask) asked.set(i, ask[1]!)
    }
  })
  // Sent in order in one tick: the commands of one key reach the importing master in order.
  const answers = await Promise.all(
    [...asked.keys()].map((i) => settled(cluster.call(commands[i]!.name, ...commands[i]!.args))),
  )
  const out = [...replies]
  ;[...asked.keys()].forEach((i, n) => {
    out[i] = answers[n]!
  })
  // A WAIT counts the writes of its connection: asked again where the asked writes ran.
  const ranOn = [...new Set(asked.values())]
  const stayed = commands.length - waits.length > asked.size
  await Promise.all(
    waits.map(async (i) => {
      const again = await Promise.all(ranOn.map((node) => askOn(cluster, node, commands[i]!)))
      out[i] = fewestAcknowledgements(stayed ? [replies[i]!, ...again] : again)
    }),
  )
  return out
}

/** A command's reply as a pipeline gives it: `[null, reply]` or `[error, undefined]`. */
function settled(reply: Promise<unknown>): Promise<[Error | null, unknown]> {
  return reply.then(
    (value): [null, unknown] => [null, value],
    (error: Error): [Error, undefined] => [error, undefined],
  )
}

/** `command` on the Cluster client's own connection to `node` (where it followed the ASKs). */
function askOn(
  cluster: Cluster,
  node: string,
  { name, args }: QueuedCommand,
): Promise<[Error | null, unknown]> {
  const connection = cluster
    .nodes('master')
    .find((n: Redis) => `${n.options.host}:${n.options.port}` === node)
  if (!connection) return Promise.resolve([new Error(WAIT_NOT_FOLLOWED), undefined])
  return settled(connection.call(name, ...args))
}
