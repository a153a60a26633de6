import type { StreamStatus } from '../../inspect.ts'
import { count, duration, timestamp } from '../format.ts'
import { type GroupDetail, HANDED_BACK_IDLE } from '../group.ts'
import { type Html, href, html } from '../html.ts'
import { emptyRow, nextPage, payload } from './parts.ts'

const HANDED_BACK = html`<span class="muted" title="given back by a consumer that stopped before starting it: the next consumer to claim takes it">handed back</span>`

/** A stream's drill-down: its groups. */
export function streamContent(stream: StreamStatus | undefined, name: string): Html {
  if (!stream) return html`<p class="note">No stream <code>${name}</code> in this namespace.</p>`
  return html`<p class="note">${count(stream.length)} entries.</p>
<table class="grid" id="groups"><thead><tr><th>group</th><th class="num">consumers</th><th class="num">lag</th><th class="num">pending</th></tr></thead><tbody>
${stream.groups.length === 0 ? emptyRow(4, 'no consumer group') : ''}
${stream.groups.map(
  (g) => html`<tr><td><a href="${href('group', { stream: stream.name, group: g.name })}">${g.name}</a></td>
<td class="num">${count(g.consumers)}</td><td class="num">${count(g.lag)}</td><td class="num">${count(g.pending)}</td></tr>`,
)}
</tbody></table>`
}

/** A group's drill-down: its consumers and a page of its pending entries. */
export function groupContent(d: GroupDetail, consumer: string | undefined, next: string | undefined): Html {
  if (!d.found)
    return html`<p class="note">No group <code>${d.group}</code> on stream <code>${d.stream}</code>.</p>`
  const all = href('group', { stream: d.stream, group: d.group })
  return html`<section><h2>Consumers <span class="count">${d.consumers.length}</span></h2>
<table class="grid" id="consumers"><thead><tr><th>consumer</th><th class="num">pending</th><th class="num">idle</th></tr></thead><tbody>
${d.consumers.length === 0 ? emptyRow(3, 'no consumer has read from this group') : ''}
${d.consumers.map(
  (
    c,
  ) => html`<tr class="${c.name === consumer ? 'selected' : ''}"><td><a href="${href('group', { stream: d.stream, group: d.group, consumer: c.name })}">${c.name}</a></td>
<td class="num">${count(c.pending)}</td><td class="num">${duration(c.idle)}</td></tr>`,
)}
</tbody></table></section>
<section><h2>Pending entries${consumer ? html` of <code>${consumer}</code> <a class="small" href="${all}">(all consumers)</a>` : ''}</h2>
<table class="grid" id="pending"><thead><tr><th>entry</th><th>consumer</th><th class="num">idle</th><th class="num">deliveries</th><th>payload</th></tr></thead><tbody>
${d.pending.length === 0 ? emptyRow(5, 'nothing pending') : ''}
${d.pending.map(
  (
    p,
  ) => html`<tr data-entry="${p.id}"><td><code title="${timestamp(Number(p.id.split('-')[0]))}">${p.id}</code></td><td>${p.consumer}</td>
<td class="num">${p.idle >= HANDED_BACK_IDLE ? HANDED_BACK : duration(p.idle)}</td><td class="num">${count(p.deliveries)}</td>
<td>${p.envelope === undefined ? html`<span class="muted">entry trimmed away or not written by redfleet</span>` : payload(p.envelope)}</td></tr>`,
)}
</tbody></table>${nextPage(next, 'Next pending entries')}</section>`
}
