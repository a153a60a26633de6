/** `redfleet status` shows stored names (members, instances, jobs, streams, groups), never lets the terminal act on them. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cli, standaloneFleets, stuckJob } from './cli-support.ts'

/** Liveness that outlasts any test on a loaded machine: only what the test stops is gone. */
const LONG = 600_000
/**
 * ESC sequences (clear screen, conceal), a newline, DEL, CSI as a C1 control, and a backslash
 * and n, which must not read as the newline's escape (helper-270).
 */
const EVIL = '\x1b[2J\x1b[8m\nx\x7f\x9b1m\\n'
const ESCAPED = '\\x1b[2J\\x1b[8m\\nx\\x7f\\x9b1m\\\\n'
/** What a terminal could act on: any control character but the newlines between lines. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

describe('redfleet status: stored names', () => {
  const standaloneFleet = standaloneFleets()

  test('control characters in member, instance, job, stream and group names are shown escaped', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await fleet.membership({ ttl: LONG }).heartbeat(`web${EVIL}`)
    await fleet.streams().publishToChannel(`ch${EVIL}`, { n: 1 })
    await fleet.streams().ensureGroup(`grp${EVIL}`)
    const gone = fleet.tracker({ instanceId: `gone${EVIL}` })
    await gone.start()
    await stuckJob(gone, `job${EVIL}`, { y: 2 })
    await gone.stop()

    const flags = ['--url', url, '--namespace', namespace]
    const [text, json] = await Promise.all([cli(['status', ...flags]), cli(['status', '--json', ...flags])])
    assert.equal(text.code, 0, text.stderr)
    assert.equal(json.code, 0, json.stderr)
    assert.doesNotMatch(text.stdout, CONTROL)
    assert.doesNotMatch(json.stdout, CONTROL)
    for (const line of [
      `members (1): web${ESCAPED}`,
      `  orphan job${ESCAPED}  instance gone${ESCAPED}  started`,
      `  streams:channel:ch${ESCAPED}  length 1`,
      `    group grp${ESCAPED}: lag 0`,
    ]) {
      assert.ok(
        text.stdout.split('\n').some((l) => l.startsWith(line)),
        `${line} in\n${text.stdout}`,
      )
    }
    const status = JSON.parse(json.stdout)
    assert.deepEqual(status.members, [`web${EVIL}`])
    assert.equal(status.tracker.orphanJobs[0].id, `job${EVIL}`)
  })
})
