import { type Html, html } from './html.ts'

/** What every page shows around its content. */
export interface Shell {
  title: string
  namespace: string
  topology: string
  /** Page refresh interval, ms. */
  refresh: number
  /** The page's own figures as JSON (its view's `.json` with the same query): the header's JSON link. */
  json: string
  /** Which nav entry is current. */
  section: 'overview' | 'orphans' | 'drill-down'
  /** Breadcrumbs after "Overview": [label, href] pairs; the last one is the current page. */
  trail?: [string, string][]
  /** Markup above the refreshed content that the refresh must not rebuild (the charts). */
  fixed?: Html
  content: Html
  /** When the page was read, ms since the epoch. */
  at: number
  /** A failure to show at once (the page was asked for while the fleet could not be read). */
  failure?: { message: string; unreachable: boolean }
}

/**
 * No icon, said in the page: without it the browser asks for /favicon.ico, gets a 404 (a 401
 * without the token) and logs it as an error on every page.
 */
export const NO_ICON = html`<link rel="icon" href="data:,">`

/** The full document: header, nav, banner, the content the client refreshes, the confirm dialog. */
export function layout(s: Shell): Html {
  const charts = s.fixed !== undefined
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${s.title} · redfleet</title>
${NO_ICON}
${charts ? html`<link rel="stylesheet" href="static/uPlot.min.css">` : ''}
<link rel="stylesheet" href="static/dashboard.css">
</head>
<body data-refresh="${s.refresh}" data-at="${s.at}">
<header class="top">
  <a class="brand" href="./">redfleet</a>
  <span class="meta"><span class="badge">${s.topology}</span> namespace <code>${s.namespace}</code></span>
  <nav>
    <a href="./" class="${s.section === 'overview' ? 'current' : ''}">Overview</a>
    <a href="orphans" class="${s.section === 'orphans' ? 'current' : ''}">Orphans</a>
    <a href="metrics">Metrics</a>
    <a href="${s.json}">JSON</a>
  </nav>
  <span id="status" class="pill ${s.failure ? 'down' : 'live'}">${s.failure ? 'unreachable' : 'live'}</span>
  <span id="updated" class="meta">updated <time>${new Date(s.at).toLocaleTimeString('en-GB')}</time></span>
</header>
<div id="banner" class="banner" role="alert" ${s.failure ? '' : html`hidden`}>${s.failure ? bannerText(s.failure) : ''}</div>
<div id="flash" class="flash" role="status" hidden></div>
<main>
${s.trail ? html`<nav class="trail"><a href="./">Overview</a>${s.trail.map(([label, link], i) => (i === s.trail!.length - 1 ? html` › <strong>${label}</strong>` : html` › <a href="${link}">${label}</a>`))}</nav>` : ''}
<h1>${s.title}</h1>
${s.fixed ?? ''}
<div id="content" class="${s.failure ? 'stale' : ''}">${s.content}</div>
</main>
<div id="confirm" class="confirm" role="dialog" aria-modal="true" aria-labelledby="confirm-text" hidden>
  <div class="confirm-box"><p id="confirm-text"></p>
  <div class="confirm-buttons"><button type="button" id="confirm-cancel">Cancel</button>
  <button type="button" id="confirm-ok" class="danger">Confirm</button></div></div>
</div>
${charts ? html`<script src="static/uPlot.iife.min.js"></script>` : ''}
<script src="static/dashboard.js"></script>
</body></html>`
}

/** The banner's sentence; the client writes the same one when a refresh fails. */
export function bannerText(f: { message: string; unreachable: boolean }): string {
  return f.unreachable
    ? `Redis is unreachable: ${f.message}. The figures below are stale.`
    : `The fleet cannot be read: ${f.message}. The figures below are stale.`
}
