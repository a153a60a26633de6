import type { TrackedJob } from '../../tracker/index.ts'
import { duration, timestamp } from '../format.ts'
import { type Html, html } from '../html.ts'
import { actionButton, emptyRow, payload } from './parts.ts'

/** A tracker instance's drill-down: its in-flight jobs. */
export interface InstanceDetail {
  instance: string
  /** Its last heartbeat, or null when it is not live (its jobs are then orphans). */
  lastSeen: number | null
  jobs: TrackedJob[]
  at: number
}

export function instanceContent(d: InstanceDetail): Html {
  return html`<p class="note">${
    d.lastSeen === null
      ? html`<span class="bad">Not live:</span> its jobs are <a href="orphans">orphans</a>.`
      : html`Live, last heartbeat <span title="${timestamp(d.lastSeen)}">${duration(d.at - d.lastSeen)} ago</span>.`
  } ${d.jobs.length} job(s) in flight.</p>
<table class="grid" id="jobs"><thead><tr><th>job</th><th class="num">age</th><th>started</th><th>payload</th></tr></thead><tbody>
${d.jobs.length === 0 ? emptyRow(4, 'no job in flight') : ''}
${d.jobs.map(
  (
    j,
  ) => html`<tr data-job="${j.id}"><td><code>${j.id}</code></td><td class="num">${duration(d.at - j.startedAt)}</td>
<td>${timestamp(j.startedAt)}</td><td>${payload(j.payload)}</td></tr>`,
)}
</tbody></table>`
}

/** Orphans: jobs of instances that are gone, each releasable when actions are on. */
export function orphansContent(jobs: TrackedJob[], at: number, allowActions: boolean): Html {
  return html`<p class="note">${jobs.length} orphan(s): jobs still tracked under tracker instances that stopped heartbeating. A tracker with <code>recoverEvery</code> requeues them; releasing one forgets it without requeueing.</p>
<table class="grid" id="orphans"><thead><tr><th>instance</th><th>job</th><th class="num">age</th><th>payload</th>${allowActions ? html`<th></th>` : ''}</tr></thead><tbody>
${jobs.length === 0 ? emptyRow(allowActions ? 5 : 4, 'no orphan') : ''}
${jobs.map(
  (j) => html`<tr data-job="${j.id}"><td><code>${j.instanceId}</code></td><td><code>${j.id}</code></td>
<td class="num" title="${timestamp(j.startedAt)}">${duration(at - j.startedAt)}</td><td>${payload(j.payload)}</td>
${
  allowActions
    ? html`<td>${actionButton({
        action: 'actions/orphans/release',
        // startedAt: the same instance id may have left the same job id in two of its lives.
        body: { instanceId: j.instanceId, id: j.id, startedAt: j.startedAt },
        confirm: `Release orphan '${j.id}' of instance '${j.instanceId}', started ${timestamp(j.startedAt)}? It stops being tracked and is not requeued.`,
        label: 'Release',
      })}</td>`
    : ''
}</tr>`,
)}
</tbody></table>`
}
