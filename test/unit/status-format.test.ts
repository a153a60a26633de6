/**
 * The text of `redfleet status` at scale (src/cli/status-format.ts): 2,000 members and 50,000
 * jobs made 4.6 MB of text a snapshot, printed again every 2 s by `--watch` (helper-313). It
 * names the first members, jobs per instance and orphans, says how many more there are, and
 * keeps every count whole; key counts past the walk's limit say they are lower bounds and why.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SCAN_LIMIT } from '../../src/admin/keys.ts'
import { formatStatus, JOBS_SHOWN, MEMBERS_SHOWN } from '../../src/cli/status-format.ts'
import type { FleetStatus } from '../../src/inspect.ts'

const at = '2026-12-07T03:00:00.000Z'
const job = (instanceId: string, i: number) => ({
  id: `job-${i}`,
  payload: { i },
  instanceId,
  startedAt: Date.parse(at) - 1000,
})

function status(members: number, jobs: number, orphans: number, truncated = false): FleetStatus {
  return {
    topology: 'standalone',
    namespace: 'shop',
    at,
    members: Array.from({ length: members }, (_, i) => `m${i}`),
    tracker: {
      instances: [
        { id: 'w1', lastSeen: Date.parse(at), jobs: Array.from({ length: jobs }, (_, i) => job('w1', i)) },
      ],
      inFlight: jobs,
      orphans,
      orphanJobs: Array.from({ length: orphans }, (_, i) => job('gone', i)),
    },
    streams: [],
    deadLetters: [],
    keys: { cache: 100_000 },
    truncated,
    unavailable: [],
  } as FleetStatus
}

test('a big fleet: the first members, jobs and orphans are named, with how many more, and the counts are whole', () => {
  const text = formatStatus(status(2000, 500, 25_000))
  assert.match(
    text,
    new RegExp(
      `^members \\(2000\\): m0, m1, .*m${MEMBERS_SHOWN - 1}, … and ${2000 - MEMBERS_SHOWN} more$`,
      'm',
    ),
  )
  assert.doesNotMatch(text, new RegExp(`\\bm${MEMBERS_SHOWN}\\b`))
  assert.match(text, /tracker: 1 live instance\(s\), 500 job\(s\) in flight, 25000 orphan\(s\)/)
  assert.equal(text.match(/^ {4}job /gm)?.length, JOBS_SHOWN)
  assert.match(text, new RegExp(`^ {4}… and ${500 - JOBS_SHOWN} more \\(--json has them all\\)$`, 'm'))
  assert.equal(text.match(/^ {2}orphan /gm)?.length, JOBS_SHOWN)
  assert.match(
    text,
    new RegExp(`^ {2}… and ${25_000 - JOBS_SHOWN} more \\(redfleet orphans lists them all\\)$`, 'm'),
  )
  assert.ok(text.length < 10_000, `${text.length} characters`)
})

test('a small fleet is listed whole', () => {
  const text = formatStatus(status(MEMBERS_SHOWN, JOBS_SHOWN, JOBS_SHOWN))
  assert.doesNotMatch(text, /more/)
  assert.equal(text.match(/^ {4}job /gm)?.length, JOBS_SHOWN)
  assert.equal(text.match(/^ {2}orphan /gm)?.length, JOBS_SHOWN)
})

test('key counts of a walk that stopped at its limit say they are lower bounds, and why', () => {
  assert.match(
    formatStatus(status(1, 0, 0, true)),
    new RegExp(
      `^keys \\(at least: counted up to ${SCAN_LIMIT.toLocaleString('en-US')} a node\\): cache 100000$`,
      'm',
    ),
  )
  assert.match(formatStatus(status(1, 0, 0)), /^keys: cache 100000$/m)
})
