/**
 * Whether a `CLUSTER SLOTS` reply names, for every slot, the master `owners` names (each as
 * `host:port`; a master that reports no host, an empty preferred endpoint, is at `askedHost`,
 * the node that was asked). Lets a periodic look at the layout skip the client's reload of its
 * slot map while nothing changed: both clients open a connection of their own for each reload.
 */
export function slotsReplyMatches(
  reply: unknown,
  owners: readonly (string | undefined)[] | undefined,
  askedHost: string,
): boolean {
  if (!Array.isArray(reply) || owners === undefined) return false
  let covered = 0
  for (const range of reply) {
    if (!Array.isArray(range) || !Array.isArray(range[2])) return false
    const [host, port] = range[2] as unknown[]
    const address = `${typeof host === 'string' && host !== '' ? host : askedHost}:${Number(port)}`
    for (let slot = Number(range[0]); slot <= Number(range[1]); slot++) {
      if (owners[slot] !== address) return false
      covered++
    }
  }
  return covered === owners.filter((owner) => owner !== undefined).length
}

/**
 * The master a check asks, each in turn: one node's view of the slots can lag behind the others'
 * (a move its gossip has not brought yet), and a check that always asked it would not see it.
 */
export function inTurn<T>(masters: readonly T[], turn: number): T | undefined {
  return masters.length === 0 ? undefined : masters[turn % masters.length]
}
