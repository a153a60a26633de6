import { SCAN_LIMIT } from '../admin/keys.ts'
import { type FleetStatus, isUnavailable, someStreamsUnread, type TrackerStatus } from '../inspect.ts'
import type { TrackedJob } from '../tracker/index.ts'

const time = (ms: number) => new Date(ms).toISOString()

/**
 * C0 controls (newlines and tabs too), DEL and C1 controls: what a terminal may act on; and the
 * backslash, so that a name holding `\n` itself is not shown as one holding a newline.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const TO_ESCAPE = /[\u0000-\u001f\u007f-\u009f\\]/g
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' }

/**
 * Stored text (a handler's error, a job, member or group id, a payload) as one visible line: each
 * control character as `\n`, `\t`, `\r` or `\xHH`, and a backslash as `\\`. Printed raw, an ESC
 * sequence in a dead letter's error would reach the operator's terminal and could clear it or
 * rewrite what it shows.
 */
export function shown(text: string): string {
  return text.replace(TO_ESCAPE, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/**
 * A failure's whole reason as one visible line: a reason may quote names read from Redis,
 * newlines included, and cut at the first one the rest of the name and the cause were lost.
 */
export function reasonLine(reason: string): string {
  return shown(reason.trimEnd())
}

/**
 * JSON for the terminal: JSON.stringify escapes C0 controls in strings but leaves DEL and the
 * C1 controls (U+0080 to U+009F, CSI among them) raw; these are escaped as `\u00XX` too.
 */
export function jsonText(value: unknown, space?: number): string {
  return (JSON.stringify(value, null, space) ?? 'undefined').replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** One line per job: id, instance, start time and age at the snapshot. */
export function formatJob(job: TrackedJob, now: number): string {
  const age = Math.max(0, Math.round((now - job.startedAt) / 1000))
  return `${shown(job.id)}  instance ${shown(job.instanceId)}  started ${time(job.startedAt)} (${age} s ago)`
}

/**
 * Most members, and jobs per instance and orphans, the text names (`--json` has them all): 2,000
 * members and 50,000 jobs made 4.6 MB of text a snapshot, printed again every 2 s by `--watch`
 * (helper-313). The counts are always whole.
 */
export const MEMBERS_SHOWN = 100
export const JOBS_SHOWN = 20

/** Up to `max` of `items`, then how many more there are. */
function firstOf<T>(items: readonly T[], max: number, more: (n: number) => string): (T | string)[] {
  return items.length <= max ? [...items] : [...items.slice(0, max), more(items.length - max)]
}

/** The human form of a status snapshot, as `redfleet status` prints it. */
export function formatStatus(status: FleetStatus): string {
  const lines = [
    `redfleet status: ${status.topology} topology, namespace '${shown(status.namespace)}', at ${status.at}`,
  ]
  // A part that could not be read says so where it would be, never as an empty list.
  for (const { part, error } of status.unavailable) lines.push(`unavailable: ${part}: ${shown(error)}`)
  const { members, tracker } = status
  lines.push(
    members === null
      ? 'members: unavailable'
      : `members (${members.length}): ${
          firstOf(members.map(shown), MEMBERS_SHOWN, (n) => `… and ${n} more`).join(', ') || '-'
        }`,
  )
  if (tracker === null) lines.push('tracker: unavailable')
  else trackerLines(tracker, Date.parse(status.at), lines)
  const streamsMissing = someStreamsUnread(status)
  lines.push(`streams (${status.streams.length}${streamsMissing ? ' read, some unavailable' : ''}):`)
  for (const stream of status.streams) {
    lines.push(`  ${shown(stream.name)}  length ${stream.length}`)
    for (const group of stream.groups) {
      lines.push(
        `    group ${shown(group.name)}: lag ${group.lag}, pending ${group.pending}, consumers ${group.consumers}`,
      )
    }
  }
  // A purged channel is still listed (at 0, for the gauges): the text names only those waiting.
  const waiting = status.deadLetters.filter((d) => d.length > 0)
  const dead = waiting.map((d) => `${shown(d.channel)} ${d.length}`).join(', ') || 'none'
  const deadMissing = streamsMissing || isUnavailable(status, 'deadLetters')
  lines.push(`dead letters: ${dead}${deadMissing ? ' (of the channels read)' : ''}`)
  const keys = Object.entries(status.keys).sort(([a], [b]) => a.localeCompare(b))
  const counted = keys.map(([name, count]) => `${shown(name)} ${count}`).join(', ') || 'none'
  // Some nodes walked: the counts are theirs, lower bounds.
  const partly = isUnavailable(status, 'keys')
  lines.push(
    partly && keys.length === 0
      ? 'keys: unavailable'
      : `keys${status.truncated ? ` (at least: counted up to ${SCAN_LIMIT.toLocaleString('en-US')} a node)` : partly ? ' (at least)' : ''}: ${counted}`,
  )
  return lines.join('\n')
}

function trackerLines(tracker: TrackerStatus, now: number, lines: string[]): void {
  lines.push(
    `tracker: ${tracker.instances.length} live instance(s), ${tracker.inFlight} job(s) in flight, ${tracker.orphans} orphan(s)`,
  )
  for (const instance of tracker.instances) {
    const ago = Math.max(0, Math.round((now - instance.lastSeen) / 1000))
    lines.push(
      `  instance ${shown(instance.id)}  last seen ${time(instance.lastSeen)} (${ago} s ago), ${instance.jobs.length} job(s)`,
    )
    for (const job of firstOf(instance.jobs, JOBS_SHOWN, (n) => `… and ${n} more (--json has them all)`)) {
      lines.push(typeof job === 'string' ? `    ${job}` : `    job ${formatJob(job, now)}`)
    }
  }
  const more = (n: number) => `… and ${n} more (redfleet orphans lists them all)`
  for (const job of firstOf(tracker.orphanJobs, JOBS_SHOWN, more)) {
    lines.push(typeof job === 'string' ? `  ${job}` : `  orphan ${formatJob(job, now)}`)
  }
}
