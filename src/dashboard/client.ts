/**
 * The page script, served as static/dashboard.js: refreshes the content from the server (which
 * renders and escapes it), greys it out and says why when a refresh fails, feeds the charts
 * from rates.json, and runs actions after an in-page confirmation. Plain ES2020, no template
 * literals (it lives in one).
 */
export const CLIENT_SCRIPT = `'use strict'
;(function () {
  var body = document.body
  var refreshMs = Number(body.dataset.refresh) || 2000
  var content = document.getElementById('content')
  var banner = document.getElementById('banner')
  var status = document.getElementById('status')
  var updated = document.querySelector('#updated time')
  var flashBox = document.getElementById('flash')
  var confirmBox = document.getElementById('confirm')
  var lastGood = Number(body.dataset.at)
  var confirming = false

  function timeOf(ms) { return new Date(ms).toLocaleTimeString('en-GB') }

  function setLive() {
    status.textContent = 'live'
    status.className = 'pill live'
    banner.hidden = true
    content.classList.remove('stale')
    updated.textContent = timeOf(lastGood)
  }

  function setStale(error) {
    var why = error.unreachable ? 'Redis is unreachable: ' : 'The fleet cannot be read: '
    if (error.dashboard) why = 'The dashboard does not answer: '
    banner.textContent = why + error.message + '. The figures below are stale (last read at ' + timeOf(lastGood) +
      '); retrying every ' + (refreshMs / 1000) + ' s.'
    banner.hidden = false
    status.textContent = 'unreachable'
    status.className = 'pill down'
    content.classList.add('stale')
  }

  /** True while the user is in the middle of something a refresh would throw away. */
  function holding() {
    return confirming || content.querySelector('input[type=checkbox]:checked') !== null ||
      content.querySelector('details[open]') !== null
  }

  async function refresh() {
    var url = new URL(location.href)
    url.searchParams.set('fragment', '1')
    var failure
    try {
      var response = await fetch(url, { headers: { accept: 'text/html' }, signal: AbortSignal.timeout(Math.max(10000, refreshMs * 3)) })
      if (response.ok) {
        var text = await response.text()
        if (!holding()) content.innerHTML = text
        lastGood = Date.now()
        setLive()
      } else if (response.status === 401) {
        failure = { message: 'the dashboard refused the token; open it again with ?token=...' }
      } else {
        var shape = await response.json().catch(function () { return null })
        failure = (shape && shape.error) || { message: 'HTTP ' + response.status }
      }
    } catch (e) {
      failure = { message: String((e && e.message) || e), dashboard: true }
    }
    if (failure) setStale(failure)
    if (charts.length) await drawCharts()
  }

  // --- charts -----------------------------------------------------------------------------
  var charts = []
  var SERIES = {
    throughput: [['published', '#2563eb'], ['consumed', '#16a34a'], ['acked', '#9333ea']],
    ops: [['opsPerSec', '#0891b2']],
    hits: [['hitRatio', '#ea580c']],
  }
  var LABELS = { published: 'published/s', consumed: 'consumed/s', acked: 'acked/s', opsPerSec: 'commands/s', hitRatio: 'hit %' }
  document.querySelectorAll('[data-chart]').forEach(function (el) { charts.push({ el: el, kind: el.dataset.chart, plot: null }) })

  function columns(rates, kind) {
    return [rates.at].concat(SERIES[kind].map(function (s) {
      var values = rates[s[0]]
      return s[0] === 'hitRatio' ? values.map(function (v) { return v === null ? null : v * 100 }) : values
    }))
  }

  async function drawCharts() {
    if (typeof uPlot === 'undefined') return
    var rates
    try {
      var response = await fetch('rates.json')
      if (!response.ok) return
      rates = await response.json()
    } catch (e) { return }
    charts.forEach(function (c) {
      var data = columns(rates, c.kind)
      if (c.plot) { c.plot.setData(data); return }
      var series = [{}].concat(SERIES[c.kind].map(function (s) {
        return { label: LABELS[s[0]], stroke: s[1], width: 2, spanGaps: false, value: function (u, v) { return v === null ? '–' : v.toFixed(1) } }
      }))
      c.plot = new uPlot({
        width: c.el.clientWidth || 400, height: 180, series: series,
        axes: [{}, { size: 50 }], scales: { y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)] } } },
        legend: { live: true },
      }, data, c.el)
    })
  }
  window.addEventListener('resize', function () {
    charts.forEach(function (c) { if (c.plot) c.plot.setSize({ width: c.el.clientWidth, height: 180 }) })
  })

  // --- actions ----------------------------------------------------------------------------
  function flash(text, tone) {
    flashBox.textContent = text
    flashBox.className = 'flash ' + tone
    flashBox.hidden = false
  }

  function ask(question, run) {
    confirming = true
    document.getElementById('confirm-text').textContent = question
    confirmBox.hidden = false
    var ok = document.getElementById('confirm-ok')
    var cancel = document.getElementById('confirm-cancel')
    function close() { confirmBox.hidden = true; confirming = false; ok.onclick = null; cancel.onclick = null }
    cancel.onclick = close
    ok.onclick = function () { close(); run() }
    ok.focus()
  }

  document.addEventListener('change', function (event) {
    var all = event.target.closest && event.target.closest('input[data-select-all]')
    if (!all) return
    content.querySelectorAll('input[name="' + all.dataset.selectAll + '"]').forEach(function (box) { box.checked = all.checked })
  })

  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-action]')
    if (!button) return
    var payload = JSON.parse(button.dataset.body || '{}')
    var question = button.dataset.confirm
    if (button.dataset.selection) {
      var ids = Array.prototype.map.call(
        content.querySelectorAll('input[name="' + button.dataset.selection + '"]:checked'), function (box) { return box.value })
      if (ids.length === 0) { flash('Select at least one entry first.', 'bad'); return }
      payload.ids = ids
      question = question.replace('{n}', String(ids.length))
    }
    ask(question, async function () {
      try {
        var response = await fetch(button.dataset.action, {
          method: 'POST', body: JSON.stringify(payload),
          headers: { 'content-type': 'application/json', 'x-redfleet-action': '1' },
        })
        var answer = await response.json().catch(function () { return {} })
        // Nothing done (a row replayed, purged or released meanwhile): said, not as a success.
        if (response.ok) flash(answer.message, answer.count === 0 ? 'warn' : 'ok')
        else flash('Failed: ' + ((answer.error && answer.error.message) || 'HTTP ' + response.status), 'bad')
      } catch (e) {
        flash('Failed: ' + e.message, 'bad')
      }
      content.querySelectorAll('input[type=checkbox]:checked').forEach(function (box) { box.checked = false })
      refresh()
    })
  })

  setInterval(refresh, refreshMs)
  if (charts.length) drawCharts()
})()
`
