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
  // Bounded as a whole: the masters are found from the slot map before any is asked.
  const found = await resultWithin(failingMasters(fleet), fleetContext(fleet).commandTimeout)
  if (!found || found.length === 0) return error
  const text = error instanceof Error ? error.message : String(error)
  return new Error(`${text} (the cluster marks ${found.join(', ')} as failing)`, { cause: error })
}

/** What the first master to answer CLUSTER NODES flags as failing; undefined if none answers. */
async function failingMasters(fleet: Fleet): Promise<string[] | undefined> {
  const masters =
    (await fleetContext(fleet)
      .redisHandle.current?.masters()
      .catch(() => undefined)) ?? []
  const asked = masters.map(async (master) => {
    const nodes = await master.client.call('CLUSTER', 'NODES')
    if (typeof nodes !== 'string') throw new TypeError('CLUSTER NODES: not text')
    return failing(nodes)
  })
  return Promise.any(asked).catch(() => undefined)
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
