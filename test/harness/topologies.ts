import { randomBytes } from 'node:crypto'
import { after, describe } from 'node:test'
import type { Fleet, FleetOptions, TopologyKind } from '../../src/index.ts'
import { testServers } from './servers.ts'
import { createTestFleet } from './transport.ts'

export const TOPOLOGIES: readonly TopologyKind[] = ['memory', 'standalone', 'sharded', 'cluster']

/** Names the topologies contract suites run on, comma-separated; unset: all four. */
export const TOPOLOGIES_ENV = 'REDFLEET_TEST_TOPOLOGIES'

/**
 * The topologies `forEachTopology` runs on by default: all four, or those `TOPOLOGIES_ENV` names
 * (set by scripts/mutate.ts, which runs a suite once per mutant and cannot afford all four).
 */
export function chosenTopologies(): readonly TopologyKind[] {
  const names = process.env[TOPOLOGIES_ENV]
  if (names === undefined || names === '') return TOPOLOGIES
  const chosen = names.split(',').map((name) => name.trim())
  const unknown = chosen.filter((name) => !TOPOLOGIES.includes(name as TopologyKind))
  if (unknown.length > 0) {
    throw new Error(
      `${TOPOLOGIES_ENV}: unknown topology ${unknown.join(', ')}; one of ${TOPOLOGIES.join(', ')}`,
    )
  }
  return chosen as TopologyKind[]
}

/** A namespace no other test (or earlier run) uses: each suite gets a clean keyspace. */
export function uniqueNamespace(label = 't'): string {
  return `${label}-${randomBytes(5).toString('hex')}`
}

/** Connection options for a topology, from the run's servers. */
export async function topologyOptions(topology: TopologyKind): Promise<FleetOptions> {
  if (topology === 'memory') return {}
  const servers = await testServers()
  if (topology === 'standalone') return { url: servers.standalone }
  if (topology === 'sharded') return { url: servers.shards }
  return { url: servers.cluster, cluster: true }
}

/** What a contract suite gets for one topology. */
export interface TopologyEnv {
  readonly topology: TopologyKind
  /** This suite's namespace: clean at the start, unique to it. */
  readonly namespace: string
  /**
   * A fleet on this topology in the suite's namespace. Each call is a separate fleet with its
   * own connections, like another process; all are closed when the suite ends.
   */
  fleet(options?: FleetOptions): Promise<Fleet>
}

/**
 * Registers `body` once per topology (memory, standalone, sharded, cluster; `TOPOLOGIES_ENV`
 * may narrow them): the contract suite pattern. Every primitive's contract is written once and
 * proved on all four.
 */
export function forEachTopology(
  title: string,
  body: (env: TopologyEnv) => void,
  topologies = chosenTopologies(),
): void {
  for (const topology of topologies) {
    describe(`${title} [${topology}]`, () => {
      const fleets: Fleet[] = []
      const namespace = uniqueNamespace()
      after(() => Promise.all(fleets.map((f) => f.close())))
      body({
        topology,
        namespace,
        async fleet(options) {
          const fleet = await createTestFleet(topology, {
            namespace,
            ...(await topologyOptions(topology)),
            ...options,
          })
          fleets.push(fleet)
          return fleet
        },
      })
    })
  }
}
