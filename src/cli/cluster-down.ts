/** What an operator is told when a cluster refuses commands (CLUSTERDOWN): which masters fail. */
import { resultWithin } from '../deadline.ts'
import { messageOf } from '../errors.ts'
import { fleetContext } from '../fleet.ts'
import type { Fleet } from '../index.ts'

/**
 * `error` as an operator command tells it: a CLUSTERDOWN refusal (from any command: some read the
 * nodes directly, the keyspace walk) with the masters the cluster marks as failing (`fail` or
 * `fail?` in CLUSTER NODES), as the first master to answer within commandTimeout says. Redis' own
 * "CLUSTERDOWN The cluster is down" names none, and the operator has to find out which.
 */
export async function explained(fleet: Fleet, error: unknown): Promise<unknown> {
  if (!/\bCLUSTERDOWN\b/.test(messageOf(error))) return error
  const ctx = fleetContext(fleet)
  const masters = (await ctx.redisHandle.current?.masters().catch(() => undefined)) ?? []
  const asked = masters.map(async (master) => {
    const nodes = await master.client.call('CLUSTER', 'NODES')
    if (typeof nodes !== 'string') throw new TypeError('CLUSTER NODES: not text')
    return failing(nodes)
  })
  const found = await resultWithin(
    Promise.any(asked).catch(() => undefined),
    ctx.commandTimeout,
  )
  if (!found || found.length === 0) return error
  const text = error instanceof Error ? error.message : String(error)
  return new Error(`${text} (the cluster marks ${found.join(', ')} as failing)`, { cause: error })
}

/** The `host:port` of each master CLUSTER NODES flags as failing. */
function failing(nodes: string): string[] {
  const found: string[] = []
  for (const line of nodes.trim().split('\n')) {
    const [, address, flags] = line.trim().split(' ')
    const marks = flags?.split(',') ?? []
    if (marks.includes('master') && (marks.includes('fail') || marks.includes('fail?'))) {
      found.push(address!.split('@')[0]!)
    }
  }
  return found
}
