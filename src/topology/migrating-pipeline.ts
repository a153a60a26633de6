import type { Cluster, Redis } from 'ioredis'
import { fewestAcknowledgements, WAIT_COMMANDS, WAIT_NOT_FOLLOWED } from '../acknowledgements.ts'
import { isRefusedMidMigration, messageOf } from '../errors.ts'
import { asPipelineReply, type PipelineReply } from '../transport/pipeline-reply.ts'
import { sentPerKey, splitsWrite } from '../transport/split-keys.ts'
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

/**
 * A redirection: ASK (the key is not on the master it was sent to, ask `node`, importing it) or
 * MOVED (the slot is `node`'s now). The command ran nowhere.
 */
const REDIRECTED = /^(?:ASK|MOVED) \d+ (\S+)/

/**
 * Sends `pipe` and returns its replies, those of a slot halfway through a migration followed on
 * an ioredis Cluster (node-redis follows each command on its own: NodeRedisPipeline):
 * - A command answered ASK or MOVED is sent again on its own through `client`, which follows
 *   it (ASK: ASKING, then the command, on the importing master; MOVED: on the slot's new master,
 *   its slot map re-read). ioredis sends a pipeline again where a redirection points only when
 *   every failed command got that same one and every other one was a read: a pipeline of writes
 *   with keys still on the source (written) and keys already moved (ASK) got the ASKs handed
 *   back, and a writeMulti failed for as long as the migration ran. A redirection means the
 *   command ran nowhere, so sending it again applies it once; sent within this attempt, before
 *   later calls on its keys go (inOrderOf), not by a retry after them, which a later read
 *   followed to the new master first and read the value from before the write (helper-303).
 * - A command of several keys refused with TRYAGAIN is sent again as one command per key
 *   (sentPerKey).
 * A WAIT of the pipeline counts its own connection's writes only: it is asked again where the
 * asked writes ran, and fails (DurabilityError) when a write was split, whose keys ran wherever
 * each one was.
 */
export async function execFollowingMigration(
  pipe: CommandPipeline,
  client: Client,
): Promise<PipelineReplies | null> {
  const queued = pipe as unknown as IoredisPipeline
  // What was queued, as it was before exec (a retry of ioredis' own rebuilds the queue).
  const commands = queued.isCluster === true && queued._queue ? [...queued._queue] : undefined
  const replies = await pipe.exec()
  if (
    !commands ||
    !replies?.some(([error]) => error && (REDIRECTED.test(error.message) || isRefusedMidMigration(error)))
  ) {
    return replies
  }
  return followMigration(client as unknown as Cluster, commands, replies)
}

async function followMigration(
  cluster: Cluster,
  commands: readonly QueuedCommand[],
  replies: PipelineReplies,
): Promise<PipelineReplies> {
  const out = [...replies]
  const waits: number[] = []
  /** The masters the redirected commands ran on. */
  const ranOn = new Set<string>()
  let followed = 0
  let splitWrite = false
  const send = (name: string, args: CommandArg[]) => cluster.call(name, ...args)
  // Sent in order in one tick: the commands of one key reach the importing master in order.
  const sending = commands.map(({ name, args }, i): Promise<void> | undefined => {
    if (WAIT_COMMANDS.has(name.toUpperCase())) {
      waits.push(i)
      return undefined
    }
    const error = replies[i]?.[0]
    const redirected = REDIRECTED.exec(messageOf(error))
    const again = redirected ? send(name, args) : sentPerKey(error, name, args, send)
    if (again === undefined) return undefined
    followed++
    if (redirected) ranOn.add(redirected[1]!)
    else if (splitsWrite(name)) splitWrite = true
    return asPipelineReply(again).then((reply) => {
      out[i] = reply
    })
  })
  await Promise.all(sending)
  const stayed = commands.length - waits.length > followed
  await Promise.all(
    waits.map(async (i) => {
      const again = await Promise.all([...ranOn].map((node) => askOn(cluster, node, commands[i]!)))
      const unknown: PipelineReply[] = splitWrite ? [[new Error(WAIT_NOT_FOLLOWED), undefined]] : []
      out[i] = fewestAcknowledgements([...(stayed ? [replies[i]!] : []), ...again, ...unknown])
    }),
  )
  return out
}

/** `command` on the Cluster client's own connection to `node` (where it followed the redirections). */
function askOn(cluster: Cluster, node: string, { name, args }: QueuedCommand): Promise<PipelineReply> {
  const connection = cluster
    .nodes('master')
    .find((n: Redis) => `${n.options.host}:${n.options.port}` === node)
  if (!connection) return Promise.resolve([new Error(WAIT_NOT_FOLLOWED), undefined])
  return asPipelineReply(connection.call(name, ...args))
}
