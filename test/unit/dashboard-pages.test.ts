/**
 * Dashboard pages rendered from what they are given (src/dashboard/pages/): the overview's tables
 * from a snapshot with parts that could not be read, where an empty table is "none among those
 * read", never "none at all" (an operator looking for dead letters while a ring node was down was
 * told there was no channel: helper-270); a group's pending entries handed back by a stopping
 * consumer, shown as such rather than idle for 11,574 days.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HANDED_BACK_IDLE } from '../../src/dashboard/group.ts'
import { overviewContent } from '../../src/dashboard/pages/overview.ts'
import { groupContent } from '../../src/dashboard/pages/streams.ts'
import type { Snapshot } from '../../src/dashboard/snapshot.ts'

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
