import { count, cutAt, pretty, preview } from '../format.ts'
import { type Html, html } from '../html.ts'

/**
 * The most of a value a page shows, in characters of its indented JSON. A page lists up to 100
 * rows and is kept for when the fleet cannot be read: dead letters of a megabyte each made one
 * page over 100 MB, and the dashboard kept up to 50 such pages per view.
 */
export const SHOWN_CHARACTERS = 8192

/** `text`, cut after SHOWN_CHARACTERS with a note of how much more the page's JSON holds. */
export function shown(text: string): Html | string {
  if (text.length <= SHOWN_CHARACTERS) return text
  const cut = cutAt(text, SHOWN_CHARACTERS)
  return html`${cut}<span class="cut">… ${count(text.length - cut.length)} more characters: the page's JSON has them all</span>`
}

/** A table row saying there is nothing to list. */
export function emptyRow(colspan: number, text: string): Html {
  return html`<tr><td colspan="${colspan}" class="empty">${text}</td></tr>`
}

/** A payload: a one-line preview that opens into the whole value (its first SHOWN_CHARACTERS). */
export function payload(value: unknown): Html {
  const short = preview(value)
  const full = pretty(value)
  return full === short
    ? html`<code class="payload">${short}</code>`
    : html`<details class="payload"><summary><code>${short}</code></summary><pre>${shown(full)}</pre></details>`
}

/**
 * A button for an action that changes data. The client asks for confirmation with `confirm`
 * (`{n}` becomes the number of selected rows), then POSTs `body` (plus the selected ids when
 * `selection` names the checkboxes) to `action`.
 */
export function actionButton(o: {
  action: string
  body: Record<string, unknown>
  confirm: string
  label: string
  selection?: string
}): Html {
  return html`<button type="button" class="action danger" data-action="${o.action}" data-body="${JSON.stringify(o.body)}" data-confirm="${o.confirm}"${o.selection ? html` data-selection="${o.selection}"` : ''}>${o.label}</button>`
}

/** The page's link to the next page of a long list. */
export function nextPage(link: string | undefined, label: string): Html {
  return link ? html`<p class="pager"><a href="${link}">${label} →</a></p>` : html``
}
