import type { Cluster } from 'ioredis'
import { withDeadline } from '../deadline.ts'
import { blocksFor } from '../transport/deadlines.ts'
import type { CommandPipeline } from '../transport/types.ts'

/** A command of an ioredis pipeline (its `_queue`, not in its typings). */
interface QueuedCommand {
  readonly name: string
  readonly args: readonly unknown[]
}

/**
 * Bounds every pipeline redfleet sends through an ioredis Cluster by `within` ms, plus the own
 * timeout of a WAIT it carries: `expired(pipe)` is what it then fails with. The node connections'
 * deadlines (timeCommands) time each round a pipeline is sent, not the pipeline: ioredis sends one
 * refused with CLUSTERDOWN or TRYAGAIN again once it has re-read its slot map, and such a pipeline
 * sent while a master was frozen or killed, then taken over, never settled (helper-189: 30–40
 * `setMany` calls of one run pending 20 s on, and after close). Redis may yet apply it.
 */
export function boundPipelines(
  client: Cluster,
  within: number,
  expired: (pipe: CommandPipeline) => Error,
): void {
  if (within <= 0) return
  client.pipeline = function (this: Cluster, ...args: Parameters<Cluster['pipeline']>) {
    // Looked up at each call, not kept: what wraps Cluster.prototype.pipeline later (a tracer, a
    // test's count) sees redfleet's pipelines too.
    const pipeline = (Object.getPrototypeOf(this) as Cluster).pipeline
    const pipe = pipeline.apply(this, args)
    const exec = pipe.exec
    // ioredis calls exec again itself for each new round: only the caller's gets a deadline.
    pipe.exec = function (this: typeof pipe, ...execArgs: Parameters<typeof exec>) {
      pipe.exec = exec
      return withDeadline(exec.apply(this, execArgs), within + waitsIn(pipe), () => expired(pipe))
    } as typeof exec
    return pipe
  }
}

/** How much longer than commandTimeout the pipeline's WAIT (if any) may take (blocksFor). */
function waitsIn(pipe: unknown): number {
  const queue = (pipe as { _queue?: readonly QueuedCommand[] })._queue ?? []
  return Math.max(0, ...queue.map((command) => blocksFor(command.name, command.args, 0)))
}
