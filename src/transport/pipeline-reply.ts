import type { PipelineReplies } from './types.ts'

/** One entry of a pipeline's replies: `[null, reply]`, or `[error, undefined]` for a failed command. */
export type PipelineReply = PipelineReplies[number]

/** A command's reply as a pipeline's `exec` gives it, for a command sent on its own. */
export function asPipelineReply(reply: Promise<unknown>): Promise<PipelineReply> {
  return reply.then(
    (value): PipelineReply => [null, value],
    (error: Error): PipelineReply => [error, undefined],
  )
}
