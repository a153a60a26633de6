import { createServer, type Server } from 'node:http'
import type { Fleet } from '../fleet.ts'
import { inspectFleet } from '../inspect.ts'

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>redfleet dashboard</title>
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2330; }
 h1 { font-size: 1.3rem; } h2 { font-size: 1rem; margin-top: 1.5rem; }
 table { border-collapse: collapse; } td, th { padding: .2rem .8rem; border-bottom: 1px solid #dde; text-align: left; }
 .muted { color: #778; } .bad { color: #b00020; font-weight: 600; }
</style></head><body>
<h1>redfleet <span id="title" class="muted"></span></h1>
<div id="error" class="bad"></div>
<h2>Members</h2><div id="members"></div>
<h2>Tracker</h2><div id="tracker"></div>
<h2>Streams</h2><table id="streams"></table>
<h2>Keys</h2><table id="keys"></table>
<script>
const el = (id) => document.getElementById(id)
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
async function refresh() {
  try {
    const s = await (await fetch('status.json')).json()
    if (s.error) throw new Error(s.error)
    el('error').textContent = ''
    el('title').textContent = s.topology + ' · ' + s.namespace + ' · ' + new Date(s.at).toLocaleTimeString()
    el('members').textContent = s.members.length ? s.members.join(', ') : 'none'
    el('tracker').innerHTML = s.tracker.instances.length + ' live instance(s), ' + s.tracker.inFlight +
      ' job(s) in flight, <span class="' + (s.tracker.orphans ? 'bad' : '') + '">' + s.tracker.orphans + ' orphan(s)</span>'
    el('streams').innerHTML = '<tr><th>stream</th><th>length</th><th>group</th><th>lag</th><th>pending</th></tr>' +
      s.streams.flatMap((st) => (st.groups.length ? st.groups : [{ name: '-', lag: '', pending: '' }]).map((g) =>
        '<tr><td>' + esc(st.key) + '</td><td>' + st.length + '</td><td>' + esc(g.name) + '</td><td>' + (g.lag ?? '?') +
        '</td><td>' + g.pending + '</td></tr>')).join('')
    el('keys').innerHTML = Object.entries(s.keys).map(([k, n]) => '<tr><td>' + esc(k) + '</td><td>' + n + '</td></tr>').join('')
  } catch (e) { el('error').textContent = 'cannot read the fleet: ' + e.message }
}
refresh(); setInterval(refresh, 2000)
</script></body></html>`

/**
 * Serves the live dashboard on localhost: the page, and `status.json` with a fresh snapshot
 * per request. Resolves with the listening server (close it to stop).
 */
export function serveDashboard(fleet: Fleet, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
    } else if (path === '/status.json') {
      inspectFleet(fleet).then(
        (status) =>
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status)),
        (error: unknown) =>
          response
            .writeHead(503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) })),
      )
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
    }
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
