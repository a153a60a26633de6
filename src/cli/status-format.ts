import type { FleetStatus } from '../inspect.ts'
import type { TrackedJob } from '../tracker/index.ts'

const time = (ms: number) => new Date(ms).toISOString()

/** One line per job: id, instance, start time and age at the snapshot. */
export function formatJob(job: TrackedJob, now: number): string {
  const age = Math.max(0, Math.round((now - job.startedAt) / 1000))
  return `${job.id}  instance ${job.instanceId}  started ${time(job.startedAt)} (${age} s ago)`
}

/** The human form of a status snapshot, as `redfleet status` prints it. */
export function formatStatus(status: FleetStatus): string {
  const now = Date.parse(status.at)
  const lines = [
    `redfleet status: ${status.topology} topology, namespace '${status.namespace}', at ${status.at}`,
  ]
  lines.push(`members (${status.members.length}): ${status.members.join(', ') || '-'}`)
  const { tracker } = status
  lines.push(
    `tracker: ${tracker.instances.length} live instance(s), ${tracker.inFlight} job(s) in flight, ${tracker.orphans} orphan(s)`,
  )
  for (const instance of tracker.instances) {
    const ago = Math.max(0, Math.round((now - instance.lastSeen) / 1000))
    lines.push(
      `  instance ${instance.id}  last seen ${time(instance.lastSeen)} (${ago} s ago), ${instance.jobs.length} job(s)`,
    )
    for (const job of instance.jobs) lines.push(`    job ${formatJob(job, now)}`)
  }
  for (const job of tracker.orphanJobs) lines.push(`  orphan ${formatJob(job, now)}`)
  lines.push(`streams (${status.streams.length}):`)
  for (const stream of status.streams) {
    lines.push(`  ${stream.name}  length ${stream.length}`)
    for (const group of stream.groups) {
      lines.push(
        `    group ${group.name}: lag ${group.lag}, pending ${group.pending}, consumers ${group.consumers}`,
      )
    }
  }
  const dead = status.deadLetters.map((d) => `${d.channel} ${d.length}`).join(', ') || 'none'
  lines.push(`dead letters: ${dead}`)
  const keys = Object.entries(status.keys).sort(([a], [b]) => a.localeCompare(b))
  const counted = keys.map(([name, count]) => `${name} ${count}`).join(', ') || 'none'
  lines.push(`keys${status.truncated ? ' (at least)' : ''}: ${counted}`)
  return lines.join('\n')
}
