/**
 * Dashboard pages rendered from what they are given (src/dashboard/pages/): the overview's tables
 * from a snapshot with parts that could not be read, where an empty table is "none among those
 * read", never "none at all" (an operator looking for dead letters while a ring node was down was
 * told there was no channel: helper-270); a group's pending entries handed back by a stopping
 * consumer, shown as such rather than idle for 11,574 days; a dead-letter page of big letters
 * shows the first part of each (100 letters of a megabyte made one page over 100 MB).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { DeadLetter } from '../../src/admin/dead-letters.ts'
import { pretty } from '../../src/dashboard/format.ts'
import { HANDED_BACK_IDLE } from '../../src/dashboard/group.ts'
import { escapeHtml } from '../../src/dashboard/html.ts'
import { deadLettersContent } from '../../src/dashboard/pages/dead-letters.ts'
import { MEMBERS_LISTED, overviewContent } from '../../src/dashboard/pages/overview.ts'
import { SHOWN_CHARACTERS } from '../../src/dashboard/pages/parts.ts'
import { groupContent } from '../../src/dashboard/pages/streams.ts'
import type { Snapshot } from '../../src/dashboard/snapshot.ts'
import { isWellFormed } from '../../src/validate.ts'

function snapshot(unavailable: Snapshot['unavailable']): Snapshot {
  return {
    topology: 'sharded',
    namespace: 'shop',
    at: 1_000_000,
    nodes: [],
    members: [],
    tracker: { instances: [], inFlight: 0, orphans: 0 },
    streams: [],
    deadLetters: [],
    keys: {},
    truncated: false,
    keysAt: 999_000,
    unavailable,
  }
}

function table(page: string, id: string): string {
  const start = page.indexOf(`id="${id}"`)
  assert.ok(start >= 0, `table ${id}`)
  return page.slice(start, page.indexOf('</table>', start))
}

test('with every part read, empty tables say there is nothing', () => {
  const page = overviewContent(snapshot([])).text
  assert.match(table(page, 'dead-letters'), /no dead-letter channel/)
  assert.match(table(page, 'streams'), /no stream yet/)
})

test('with a part unread, empty stream and dead-letter tables say they show what was read', () => {
  for (const part of ['streams', 'keys'] as const) {
    const page = overviewContent(snapshot([{ part, error: 'node 127.0.0.1:1/0: no answer' }])).text
    assert.doesNotMatch(table(page, 'dead-letters'), /no dead-letter channel/, part)
    assert.match(table(page, 'dead-letters'), /none among the streams read/, part)
    assert.doesNotMatch(table(page, 'streams'), /no stream yet/, part)
    assert.match(page, /Not all of the fleet could be read/, part)
  }
  const page = overviewContent(snapshot([{ part: 'deadLetters', error: 'g:dead: no answer' }])).text
  assert.match(table(page, 'dead-letters'), /none among the streams read/)
})

test('a pending entry handed back by a stopping consumer says so, not an idle time of years', () => {
  const page = groupContent(
    {
      stream: 'events',
      group: 'g',
      found: true,
      consumers: [{ name: 'c1', pending: 2, idle: 10 }],
      pending: [
        { id: '1-0', consumer: 'c1', idle: 1500, deliveries: 1, envelope: { n: 1 } },
        // As XPENDING reports it a day after release-unstarted-1.lua set IDLE 10^12.
        { id: '2-0', consumer: 'c1', idle: HANDED_BACK_IDLE + 86_400_000, deliveries: 0, envelope: { n: 2 } },
      ],
    },
    undefined,
    undefined,
  ).text
  const rows = page.split('<tr data-entry=').slice(1)
  assert.equal(rows.length, 2)
  assert.doesNotMatch(rows[0]!, /handed back/)
  assert.match(rows[1]!, /handed back/)
  assert.doesNotMatch(rows[1]!, /\d d</)
})

function letter(id: string, data: unknown, error: string): DeadLetter {
  return {
    id,
    channel: 'billing:dead',
    origin: { channel: 'billing', id: '1-0' },
    group: 'billing',
    error,
    deliveries: 10,
    deadAt: 1_000_000,
    envelope: { data, at: 1_000_000 },
  }
}

test("a dead-letter page shows each big letter's first part and says the page's JSON has the rest", () => {
  const big = { rows: Array.from({ length: 20_000 }, (_, i) => ({ sku: `sku-${i}`, qty: i })) }
  const error = `failed: ${'x'.repeat(100_000)}`
  const letters = Array.from({ length: 20 }, (_, i) => letter(`${i + 1}-0`, big, error))
  const page = { channel: 'billing:dead', length: 20, letters, skipped: 0, at: 1_000_000 }
  const text = deadLettersContent(page, true, undefined).text
  const whole = pretty(letters[0]!.envelope).length
  assert.ok(whole > 50 * SHOWN_CHARACTERS, `a letter of ${whole} characters`)
  // Each row: at most the shown part of its envelope and of its error (escaped: a `"` is six
  // characters), plus its markup.
  assert.ok(text.length < 20 * (6 * 2 * SHOWN_CHARACTERS + 4096), `a page of ${text.length} characters`)
  const notes = text.match(/… [0-9,]+ more characters: the page's JSON has them all/g) ?? []
  assert.equal(notes.length, 40, 'one note per envelope and per error')
  const start = escapeHtml(pretty(letters[0]!.envelope).slice(0, 2000))
  assert.ok(text.includes(start), 'the start of the envelope is shown')
})

test('a small dead letter is shown whole, without a note', () => {
  const page = {
    channel: 'billing:dead',
    length: 1,
    letters: [letter('1-0', { order: 42 }, 'no stock')],
    skipped: 0,
    at: 1,
  }
  const text = deadLettersContent(page, false, undefined).text
  assert.doesNotMatch(text, /more characters/)
  assert.match(text, /no stock/)
  assert.ok(text.includes('&quot;order&quot;: 42'), text)
})

test('a cut value never ends in half of a surrogate pair, in its preview or its shown part', () => {
  for (const data of ['😀'.repeat(6000), `x${'😀'.repeat(6000)}`]) {
    const text = deadLettersContent(
      { channel: 'c:dead', length: 1, letters: [letter('1-0', { s: data }, 'e')], skipped: 0, at: 1 },
      false,
      undefined,
    ).text
    assert.ok(isWellFormed(text), 'no lone surrogate')
    assert.match(text, /… [0-9,]+ more characters/)
  }
})

test('the overview lists the first members of a big fleet and says how many more there are (helper-313)', () => {
  const member = (i: number) => ({ id: `m${i}`, lastHeartbeat: 999_000, expiresIn: 5000 })
  const many = { ...snapshot([]), members: Array.from({ length: 2000 }, (_, i) => member(i)) }
  const page = overviewContent(many).text
  assert.equal(table(page, 'members').split('<tr>').length - 2, MEMBERS_LISTED, 'rows besides the head')
  assert.match(page, /Members <span class="count">2000<\/span>/)
  assert.match(page, new RegExp(`… and ${(2000 - MEMBERS_LISTED).toLocaleString('en-US')} more`))
  const few = overviewContent({ ...snapshot([]), members: [member(1)] }).text
  assert.doesNotMatch(few, /more \(<a href="status.json">/)
})
