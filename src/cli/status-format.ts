import type { FleetStatus } from '../inspect.ts'

/** The human form of a status snapshot, as `redfleet status` prints it. */
export function formatStatus(status: FleetStatus): string {
  const lines = [
    `redfleet status: ${status.topology} topology, namespace '${status.namespace}', at ${status.at}`,
  ]
  lines.push(`members (${status.members.length}): ${status.members.join(', ') || '-'}`)
  const { tracker } = status
  lines.push(
    `tracker: ${tracker.instances.length} live instance(s), ${tracker.inFlight} job(s) in flight, ${tracker.orphans} orphan(s)`,
  )
  for (const instance of tracker.instances) {
    lines.push(`  ${instance.id}  last seen ${new Date(instance.lastSeen).toISOString()}`)
  }
  lines.push(`streams (${status.streams.length}):`)
  for (const stream of status.streams) {
    lines.push(`  ${stream.key}  length ${stream.length}`)
    for (const group of stream.groups) {
      lines.push(
        `    group ${group.name}: lag ${group.lag ?? 'unknown'}, pending ${group.pending}, consumers ${group.consumers}`,
      )
    }
  }
  const keys = Object.entries(status.keys).sort(([a], [b]) => a.localeCompare(b))
  const counted = keys.map(([name, count]) => `${name} ${count}`).join(', ') || 'none'
  lines.push(`keys${status.truncated ? ' (at least)' : ''}: ${counted}`)
  return lines.join('\n')
}
