import type { DeadLetter } from '../../admin/dead-letters.ts'
import { count, duration, timestamp } from '../format.ts'
import { type Html, html } from '../html.ts'
import { actionButton, emptyRow, nextPage, payload, shown } from './parts.ts'

export interface DeadLetterPage {
  channel: string
  /** Entries of the channel (XLEN), or null when unknown. */
  length: number | null
  letters: DeadLetter[]
  /** Entries passed over to read `letters` that are not dead-letter records (never replayed). */
  skipped: number
  at: number
}

function actions(channel: string): Html {
  const body = { channel }
  return html`<div class="actions">
${actionButton({ action: 'actions/dead-letters/replay', body, selection: 'id', label: 'Replay selected', confirm: `Replay {n} selected dead letter(s) of '${channel}' to the stream they came from?` })}
${actionButton({ action: 'actions/dead-letters/replay', body, label: 'Replay all', confirm: `Replay EVERY dead letter of '${channel}' to the stream it came from?` })}
${actionButton({ action: 'actions/dead-letters/purge', body, selection: 'id', label: 'Purge selected', confirm: `Delete {n} selected dead letter(s) of '${channel}' for good?` })}
${actionButton({ action: 'actions/dead-letters/purge', body, label: 'Purge all', confirm: `Delete EVERY dead letter of '${channel}' for good?` })}
</div>`
}

/** Why the channel is longer than the letters shown: its entries that are not dead letters. */
function skippedNote(skipped: number): Html | string {
  if (skipped === 0) return ''
  return html`<p class="note" id="skipped">${count(skipped)} entries here are not dead-letter records (written by another program?): they are not listed and never replayed; Purge all deletes them too.</p>`
}

/** A dead-letter channel's drill-down: its entries, with replay and purge when actions are on. */
export function deadLettersContent(p: DeadLetterPage, allowActions: boolean, next: string | undefined): Html {
  const columns = allowActions ? 8 : 7
  return html`<p class="note">${count(p.length)} entries in <code>${p.channel}</code>.
Replaying puts an entry back on the stream it came from, for the group that gave up on it.</p>
${skippedNote(p.skipped)}
${allowActions ? actions(p.channel) : ''}
<table class="grid" id="letters"><thead><tr>${allowActions ? html`<th><input type="checkbox" data-select-all="id" aria-label="select all"></th>` : ''}
<th>entry</th><th>dead since</th><th>group</th><th>origin</th><th class="num">deliveries</th><th>error</th><th>payload</th></tr></thead><tbody>
${p.letters.length === 0 ? emptyRow(columns, 'no dead letter') : ''}
${p.letters.map(
  (
    l,
  ) => html`<tr data-entry="${l.id}">${allowActions ? html`<td><input type="checkbox" name="id" value="${l.id}" aria-label="select ${l.id}"></td>` : ''}
<td><code>${l.id}</code></td><td title="${timestamp(l.deadAt)}">${duration(p.at - l.deadAt)} ago</td><td>${l.group}</td>
<td><code>${l.origin.channel ?? 'events'}</code> <code>${l.origin.id}</code></td><td class="num">${count(l.deliveries)}</td>
<td class="error">${shown(l.error)}</td><td>${payload(l.envelope)}</td></tr>`,
)}
</tbody></table>${nextPage(next, 'Next dead letters')}`
}
