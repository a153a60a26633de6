import { isUnavailable, someStreamsUnread } from '../../inspect.ts'
import { bytes, count, duration, timestamp } from '../format.ts'
import { type Html, href, html } from '../html.ts'
import type { Snapshot } from '../snapshot.ts'

function card(label: string, value: string, tone: '' | 'bad' | 'good' | 'warn' = '', hint = ''): Html {
  return html`<div class="card ${tone}"><div class="card-value">${value}</div><div class="card-label">${label}</div>${hint ? html`<div class="card-hint">${hint}</div>` : ''}</div>`
}

function empty(colspan: number, text: string): Html {
  return html`<tr><td colspan="${colspan}" class="empty">${text}</td></tr>`
}

/** A part that could not be read shows as unknown, never as 0 (`unavailable` says why). */
const UNKNOWN = '–'

function cards(s: Snapshot): Html {
  const up = s.nodes.filter((n) => n.up).length
  const dead = s.deadLetters.reduce((sum, d) => sum + d.length, 0)
  const lag = Math.max(0, ...s.streams.flatMap((st) => st.groups.map((g) => g.lag)))
  // Of the streams read: with some unread, a lower bound.
  const some = someDeadLettersUnread(s)
  const atLeast = (n: number) => `${count(n)}${some ? '+' : ''}`
  const hint = some ? 'of the streams read' : ''
  const { members, tracker } = s
  return html`<section class="cards">
${card('nodes up', `${up} / ${s.nodes.length}`, up === s.nodes.length ? 'good' : 'bad')}
${card('members live', members ? count(members.length) : UNKNOWN)}
${card('tracker instances', tracker ? count(tracker.instances.length) : UNKNOWN)}
${card('jobs in flight', tracker ? count(tracker.inFlight) : UNKNOWN)}
${card('orphans', tracker ? count(tracker.orphans) : UNKNOWN, tracker && tracker.orphans > 0 ? 'bad' : '')}
${card('highest group lag', atLeast(lag), lag > 0 ? 'warn' : '', hint)}
${card('dead letters', atLeast(dead), dead > 0 ? 'bad' : '', hint)}
</section>`
}

function nodes(s: Snapshot): Html {
  return html`<section><h2>Nodes</h2><table class="grid" id="nodes">
<thead><tr><th>node</th><th>state</th><th class="num">used memory</th><th class="num">ops/s</th><th class="num">clients</th><th>version</th></tr></thead><tbody>
${s.nodes.length === 0 ? empty(6, 'no node known yet') : ''}
${s.nodes.map(
  (n) => html`<tr data-node="${n.id}"><td><code>${n.id}</code></td>
<td>${n.up ? html`<span class="pill live">up</span>` : html`<span class="pill down" title="${n.error ?? ''}">down</span>`}</td>
<td class="num">${bytes(n.usedMemory)}</td><td class="num">${count(n.opsPerSec)}</td><td class="num">${count(n.clients)}</td><td>${n.version ?? '–'}</td></tr>`,
)}
</tbody></table></section>`
}

/**
 * Members the overview lists, of a fleet's live ones (its count has them all, and status.json
 * every one): 20,000 members made an overview of 3.8 MB, sent again every refresh (helper-313).
 */
export const MEMBERS_LISTED = 100

function members(s: Snapshot): Html {
  const members = s.members ?? []
  const more = members.length - MEMBERS_LISTED
  return html`<section><h2>Members <span class="count">${s.members ? members.length : UNKNOWN}</span></h2><table class="grid" id="members">
<thead><tr><th>member</th><th class="num">last heartbeat</th><th class="num">expires in</th></tr></thead><tbody>
${s.members === null ? empty(3, 'unavailable: see above') : members.length === 0 ? empty(3, 'no live member') : ''}
${members.slice(0, MEMBERS_LISTED).map(
  (m) => html`<tr><td><code>${m.id}</code></td>
<td class="num">${m.lastHeartbeat === null ? html`<span class="muted" title="seen once so far; known after its next heartbeat">–</span>` : `${duration(s.at - m.lastHeartbeat)} ago`}</td>
<td class="num">${duration(m.expiresIn)}</td></tr>`,
)}
</tbody></table>${more > 0 ? html`<p class="note">… and ${count(more)} more (<a href="status.json">status.json</a> has them all).</p>` : ''}</section>`
}

function tracker(s: Snapshot): Html {
  const { tracker } = s
  const instances = tracker?.instances ?? []
  return html`<section><h2>Tracker instances <span class="count">${tracker ? instances.length : UNKNOWN}</span></h2>
<table class="grid" id="instances">
<thead><tr><th>instance</th><th class="num">last heartbeat</th><th class="num">jobs in flight</th></tr></thead><tbody>
${tracker === null ? empty(3, 'unavailable: see above') : instances.length === 0 ? empty(3, 'no live tracker instance') : ''}
${instances.map(
  (i) => html`<tr><td><a href="${href('tracker', { instance: i.id })}"><code>${i.id}</code></a></td>
<td class="num" title="${timestamp(i.lastSeen)}">${duration(s.at - i.lastSeen)} ago</td><td class="num">${count(i.inFlight)}</td></tr>`,
)}
</tbody></table>
<p class="note">${tracker === null ? '' : tracker.orphans > 0 ? html`<a class="bad" href="orphans">${count(tracker.orphans)} orphan(s)</a> of instances that are gone.` : 'No orphans.'}</p></section>`
}

function streams(s: Snapshot): Html {
  const rows = s.streams.flatMap((st) =>
    (st.groups.length ? st.groups : [undefined]).map(
      (g, i) => html`<tr>
${i === 0 ? html`<td rowspan="${Math.max(1, st.groups.length)}"><a href="${href('stream', { name: st.name })}"><code>${st.name}</code></a></td><td rowspan="${Math.max(1, st.groups.length)}" class="num">${count(st.length)}</td>` : ''}
${
  g
    ? html`<td><a href="${href('group', { stream: st.name, group: g.name })}">${g.name}</a></td><td class="num">${count(g.consumers)}</td><td class="num ${g.lag > 0 ? 'warn' : ''}">${count(g.lag)}</td><td class="num">${count(g.pending)}</td>`
    : html`<td class="muted" colspan="4">no consumer group</td>`
}</tr>`,
    ),
  )
  return html`<section><h2>Streams and consumer groups</h2><table class="grid" id="streams">
<thead><tr><th>stream</th><th class="num">length</th><th>group</th><th class="num">consumers</th><th class="num">lag</th><th class="num">pending</th></tr></thead><tbody>
${s.streams.length === 0 ? empty(6, someStreamsUnread(s) ? 'none among the streams read: see above' : 'no stream yet') : rows}
</tbody></table></section>`
}

function deadLetters(s: Snapshot): Html {
  return html`<section><h2>Dead letters</h2><table class="grid" id="dead-letters">
<thead><tr><th>channel</th><th class="num">entries</th></tr></thead><tbody>
${s.deadLetters.length === 0 ? empty(2, someDeadLettersUnread(s) ? 'none among the streams read: see above' : 'no dead-letter channel') : ''}
${s.deadLetters.map(
  (d) =>
    html`<tr><td><a href="${href('dead-letters', { channel: d.channel })}"><code>${d.channel}</code></a></td><td class="num ${d.length > 0 ? 'bad' : ''}">${count(d.length)}</td></tr>`,
)}
</tbody></table></section>`
}

function keys(s: Snapshot): Html {
  const entries = Object.entries(s.keys).sort(([a], [b]) => a.localeCompare(b))
  return html`<section><h2>Keys</h2><table class="grid" id="keys">
<thead><tr><th>primitive</th><th class="num">keys</th></tr></thead><tbody>
${entries.length === 0 ? empty(2, s.keysAt === null ? 'not counted yet' : 'no key in this namespace') : ''}
${entries.map(([name, n]) => html`<tr><td>${name}</td><td class="num">${count(n)}${s.truncated || isUnavailable(s, 'keys') ? '+' : ''}</td></tr>`)}
</tbody></table>${s.truncated ? html`<p class="note">Counts are lower bounds: a node had more keys than one scan reads.</p>` : ''}
<p class="note" id="keys-at">${s.keysAt === null ? 'Counting the keys: a walk of the whole keyspace, slow when it is large.' : html`Counted <span title="${timestamp(s.keysAt)}">${duration(s.at - s.keysAt)} ago</span> by a walk of the whole keyspace, which runs less often than the refresh.`}</p></section>`
}

/** The parts of the fleet that could not be read (a node of a ring down), and why. */
function unavailable(s: Snapshot): Html {
  if (s.unavailable.length === 0) return html``
  return html`<section id="unavailable"><p class="note bad">Not all of the fleet could be read; what follows leaves out:</p><ul>
${s.unavailable.map((u) => html`<li><b>${u.part}</b>: ${u.error}</li>`)}
</ul></section>`
}

/** The refreshed part of the overview. */
export function overviewContent(s: Snapshot): Html {
  return html`${unavailable(s)}${cards(s)}
<div class="columns">${nodes(s)}${members(s)}</div>
<div class="columns">${tracker(s)}${deadLetters(s)}</div>
${streams(s)}
${keys(s)}`
}

/** The charts above the content: drawn and fed by the client from rates.json. */
export function charts(topology: string): Html {
  const redis = topology !== 'memory'
  return html`<section class="charts" id="charts">
<figure class="chart"><figcaption>Stream throughput, entries/s</figcaption><div data-chart="throughput"></div></figure>
${
  redis
    ? html`<figure class="chart"><figcaption>Redis commands/s, all nodes</figcaption><div data-chart="ops"></div></figure>
<figure class="chart"><figcaption>Redis keyspace hit ratio, %</figcaption><div data-chart="hits"></div></figure>`
    : ''
}
</section>`
}

/** Whether dead letters may be missing: a stream, or whether a channel holds them, went unread. */
function someDeadLettersUnread(s: Snapshot): boolean {
  return someStreamsUnread(s) || isUnavailable(s, 'deadLetters')
}
