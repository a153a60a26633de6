/**
 * What `redfleet dlq list` and `redfleet orphans` print: stored text shown, never acted on by the
 * terminal; how many letters there are; and the entry ids `--ids` takes.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fleetContext } from '../../src/fleet.ts'
import type { Fleet } from '../../src/index.ts'
import { cli, standaloneFleets, stuckJob } from './cli-support.ts'

/** ESC sequences (clear screen, home, green), a newline, DEL, and CSI as a C1 control. */
const EVIL = 'bad \x1b[2J\x1b[H\x1b[32mALL GOOD\x1b[0m\nnext\x7f\x9b1m'
/** What a terminal could act on: any control character but the newlines between lines. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

/**
 * Writes `count` dead-letter records of `group` into `${group}:dead`, as a consume loop would,
 * the group made first (a replay refuses letters of a group the main stream does not have).
 */
async function writeDeadLetters(
  fleet: Fleet,
  group: string,
  count: number,
  error = 'declined',
  envelope = (n: number): unknown => ({ order: n, note: EVIL }),
): Promise<void> {
  await fleet.streams().ensureGroup(group)
  for (let n = 0; n < count; n++) {
    await fleet.streams().publishToChannel(`${group}:dead`, {
      id: `1-${n}`,
      group,
      error,
      deliveries: 1,
      envelope: envelope(n),
      deadAt: Date.now(),
    })
  }
}

describe('redfleet dlq list and orphans: what they print', () => {
  const standaloneFleet = standaloneFleets()

  test('a preview cut where an emoji is shows no half of it', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    // An emoji at each of 30 offsets around where the one-line preview is cut.
    await writeDeadLetters(fleet, 'emoji', 30, 'declined', (n) => ({ s: `${'x'.repeat(100 + n)}😀` }))
    const list = await cli(['dlq', 'list', 'emoji:dead', '--url', url, '--namespace', namespace])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, /😀/)
    assert.match(list.stdout, /…/)
    assert.doesNotMatch(
      list.stdout,
      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\uFFFD/,
    )
  })

  test('control characters of stored text are shown escaped, in text and in --json', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const flags = ['--url', url, '--namespace', namespace]
    await writeDeadLetters(fleet, `g${EVIL}`, 1, EVIL)
    const gone = fleet.tracker({ instanceId: `gone${EVIL}` })
    await gone.start()
    await stuckJob(gone, `job${EVIL}`, { note: EVIL })
    await gone.stop()

    const channel = `g${EVIL}:dead`
    const [list, json, orphans, orphansJson] = await Promise.all([
      cli(['dlq', 'list', channel, ...flags]),
      cli(['dlq', 'list', channel, '--json', ...flags]),
      cli(['orphans', ...flags]),
      cli(['orphans', '--json', ...flags]),
    ])
    for (const run of [list, json, orphans, orphansJson]) {
      assert.equal(run.code, 0, run.stderr)
      assert.doesNotMatch(run.stdout, CONTROL)
    }
    const escaped = 'bad \\x1b[2J\\x1b[H\\x1b[32mALL GOOD\\x1b[0m\\nnext\\x7f\\x9b1m'
    assert.equal(list.stdout.split('\n').length, 5, list.stdout) // header, 3 lines, end
    assert.ok(list.stdout.includes(`: ${escaped}\n`), list.stdout)
    assert.ok(list.stdout.includes(`group g${escaped}`), list.stdout)
    assert.ok(orphans.stdout.includes(`job${escaped}  instance gone${escaped}`), orphans.stdout)
    // JSON escapes every one of them, DEL and C1 included, and parses back to the stored text.
    const [letter] = JSON.parse(json.stdout)
    assert.equal(letter.error, EVIL)
    assert.equal(letter.envelope.note, EVIL)
    const [job] = JSON.parse(orphansJson.stdout)
    assert.deepEqual([job.id, job.instanceId, job.payload.note], [`job${EVIL}`, `gone${EVIL}`, EVIL])
    // A failure's reason that quotes a stored name: escaped too, and one whole line.
    const main = `${namespace}:streams:events`
    await (await fleetContext(fleet).redis()).client(main).call('XGROUP', 'DESTROY', main, `g${EVIL}`)
    const refused = await cli(['dlq', 'replay', channel, ...flags])
    assert.equal(refused.code, 1)
    assert.doesNotMatch(refused.stderr.slice(0, -1), CONTROL)
    assert.match(refused.stderr, /which the main stream does not have .*or purge the letters\n$/)
    // A newline in a name quoted by a reason: shown as \n, not the end of the reason.
    const broken = `${namespace}:streams:channel:a\nb:dead`
    await (await fleetContext(fleet).redis()).client(broken).set(broken, 'not a stream')
    const wrong = await cli(['dlq', 'list', 'a\nb:dead', ...flags])
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /^redfleet: [^\n]*a\\nb:dead[^\n]*WRONGTYPE[^\n]*\n$/)
  })

  test('--json gives every letter its origin channel, null for the main stream', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await writeDeadLetters(fleet, 'billing', 1)
    const run = await cli(['dlq', 'list', 'billing:dead', '--json', '--url', url, '--namespace', namespace])
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(JSON.parse(run.stdout)[0].origin, { channel: null, id: '1-0' })
  })

  test('--limit N says N+ only when there are more than N letters', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await writeDeadLetters(fleet, 'ship', 3)
    const list = (limit: string) =>
      cli(['dlq', 'list', 'ship:dead', '--limit', limit, '--url', url, '--namespace', namespace])
    const [exact, fewer, json] = await Promise.all([
      list('3'),
      list('2'),
      cli(['dlq', 'list', 'ship:dead', '--limit', '2', '--json', '--url', url, '--namespace', namespace]),
    ])
    assert.equal(exact.code, 0, exact.stderr)
    assert.equal(exact.stdout.split('\n')[0], "dead letters in 'ship:dead': 3")
    assert.equal(fewer.stdout.split('\n')[0], "dead letters in 'ship:dead': 2+")
    assert.equal(JSON.parse(json.stdout).length, 2)
    // The array stays the letters; that there are more is said on stderr.
    assert.equal(json.stderr, "redfleet: 'ship:dead' holds more than the 2 dead letters listed (--limit)\n")
    assert.equal(exact.stderr, '')
  })

  test('--ids that are not stream entry ids (an empty one too) are a usage error naming the id, and nothing is done', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await writeDeadLetters(fleet, 'bill', 1)
    const flags = ['--url', url, '--namespace', namespace]
    for (const action of ['purge', 'replay']) {
      const run = await cli(['dlq', action, 'bill:dead', '--ids', '1-0,nonexist-0', ...flags])
      assert.equal(run.code, 2, run.stderr)
      assert.match(run.stderr, /--ids: 'nonexist-0' is not a stream entry id/)
      // An empty entry is none either: it was dropped, and the rest acted on (helper-250).
      for (const ids of ['1-0,,', ',1-0', '1-0,,2-0']) {
        const empty = await cli(['dlq', action, 'bill:dead', '--ids', ids, ...flags])
        assert.equal(empty.code, 2, `${ids}: ${empty.stdout}${empty.stderr}`)
        assert.match(empty.stderr, /--ids: an empty entry in '.*' \(two commas, or one at an end\)/)
      }
    }
    assert.equal((await fleet.streams().readRange('bill:dead')).length, 1)
  })
})
