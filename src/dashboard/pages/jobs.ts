import type { TrackedJob } from '../../tracker/index.ts'
import { duration, timestamp } from '../format.ts'
import { type Html, html } from '../html.ts'
import { actionButton, emptyRow, nextPage, payload } from './parts.ts'

/**
 * Jobs a page shows at most, oldest first: 20,000 orphans made a page of 15 MB, rendered and
 * sent again on every refresh. The page's JSON has them all.
 */
export const JOBS_PAGE = 100

/** Which rows of a list of jobs a page shows: from row `from` (0 first), and links to the others. */
export interface JobsShown {
  from: number
  next: string | undefined
  /** The first page's link, on any other page. */
  first: string | undefined
}

/** Row `from` on, at most JOBS_PAGE, and the row the next page starts at, if there are more. */
export function jobsPage<T>(
  jobs: readonly T[],
  from: number,
): { rows: readonly T[]; next: number | undefined } {
  const rows = jobs.slice(from, from + JOBS_PAGE)
  return { rows, next: from + rows.length < jobs.length ? from + rows.length : undefined }
}

/**
 * What a page of part of a list says about the rows it shows; past its end (a page left open as
 * the jobs were recovered), that it has fewer.
 */
function rowsShown(total: number, shown: JobsShown, count: number): Html {
  const back = shown.first === undefined ? '' : html` <a href="${shown.first}">First page</a>.`
  if (count === 0 && shown.from > 0) return html` The list ends before row ${shown.from + 1}.${back}`
  if (count === total) return html``
  return html` Rows ${shown.from + 1}–${shown.from + count} shown, oldest first.${back}`
}

/** The empty table's row: nothing at all, or nothing from this page's first row on. */
function noRows(total: number, columns: number, nothing: string): Html {
  return emptyRow(columns, total === 0 ? nothing : 'none from this row on')
}

/** A tracker instance's drill-down: its in-flight jobs. */
export interface InstanceDetail {
  instance: string
  /** Its last heartbeat, or null when it is not live (its jobs are then orphans). */
  lastSeen: number | null
  jobs: TrackedJob[]
  at: number
}

export function instanceContent(d: InstanceDetail, shown: JobsShown): Html {
  const { rows } = jobsPage(d.jobs, shown.from)
  return html`<p class="note">${
    d.lastSeen === null
      ? html`<span class="bad">Not live:</span> its jobs are <a href="orphans">orphans</a>.`
      : html`Live, last heartbeat <span title="${timestamp(d.lastSeen)}">${duration(d.at - d.lastSeen)} ago</span>.`
  } ${d.jobs.length} job(s) in flight.${rowsShown(d.jobs.length, shown, rows.length)}</p>
<table class="grid" id="jobs"><thead><tr><th>job</th><th class="num">age</th><th>started</th><th>payload</th></tr></thead><tbody>
${rows.length === 0 ? noRows(d.jobs.length, 4, 'no job in flight') : ''}
${rows.map(
  (
    j,
  ) => html`<tr data-job="${j.id}"><td><code>${j.id}</code></td><td class="num">${duration(d.at - j.startedAt)}</td>
<td>${timestamp(j.startedAt)}</td><td>${payload(j.payload)}</td></tr>`,
)}
</tbody></table>${nextPage(shown.next, 'Next jobs')}`
}

/** Orphans: jobs of instances that are gone, each releasable when actions are on. */
export function orphansContent(
  jobs: TrackedJob[],
  at: number,
  allowActions: boolean,
  shown: JobsShown,
): Html {
  const { rows } = jobsPage(jobs, shown.from)
  return html`<p class="note">${jobs.length} orphan(s): jobs still tracked under tracker instances that stopped heartbeating. A tracker with <code>recoverEvery</code> requeues them; releasing one forgets it without requeueing.${rowsShown(jobs.length, shown, rows.length)}</p>
<table class="grid" id="orphans"><thead><tr><th>instance</th><th>job</th><th class="num">age</th><th>payload</th>${allowActions ? html`<th></th>` : ''}</tr></thead><tbody>
${rows.length === 0 ? noRows(jobs.length, allowActions ? 5 : 4, 'no orphan') : ''}
${rows.map(
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
</tbody></table>${nextPage(shown.next, 'Next orphans')}`
}
