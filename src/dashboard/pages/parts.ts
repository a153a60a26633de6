import { pretty, preview } from '../format.ts'
import { type Html, html } from '../html.ts'

/** A table row saying there is nothing to list. */
export function emptyRow(colspan: number, text: string): Html {
  return html`<tr><td colspan="${colspan}" class="empty">${text}</td></tr>`
}

/** A payload: a one-line preview that opens into the whole value. */
export function payload(value: unknown): Html {
  const short = preview(value)
  const full = pretty(value)
  return full === short
    ? html`<code class="payload">${short}</code>`
    : html`<details class="payload"><summary><code>${short}</code></summary><pre>${full}</pre></details>`
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
