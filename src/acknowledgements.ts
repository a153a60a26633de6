/**
 * The answers of WAIT and WAITAOF (src/durability.ts) when the writes of their pipeline ran on
 * more than one connection (a cluster's MOVED or ASK): each counts only its own connection's
 * writes, so they are asked again where the writes ran and the fewest count.
 */
import type { PipelineReply } from './transport/pipeline-reply.ts'

/** The acknowledgements `appendWaits` adds: each counts the writes of its connection. */
export const WAIT_COMMANDS: ReadonlySet<string> = new Set(['WAIT', 'WAITAOF'])

/** Why a WAIT could not be asked where its write ran. */
export const WAIT_NOT_FOLLOWED =
  'a write sent with it ran on a connection it could not be asked on (an ASK, or a retry after CLUSTERDOWN or TRYAGAIN)'

/**
 * The least of a WAIT's (or WAITAOF's) answers, where its pipeline's writes ran on several
 * connections: the first error, else the fewest acknowledgements (WAIT: a count; WAITAOF:
 * [local, replicas], each the least).
 */
export function fewestAcknowledgements(answers: readonly PipelineReply[]): PipelineReply {
  const failed = answers.find(([error]) => error)
  if (failed) return failed
  const values = answers.map(([, reply]) => reply)
  if (!Array.isArray(values[0])) return [null, Math.min(...values.map(Number))]
  const pairs = values as number[][]
  return [null, pairs[0]!.map((_, at) => Math.min(...pairs.map((pair) => Number(pair[at]))))]
}
