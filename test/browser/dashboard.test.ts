/**
 * The dashboard in a real browser (Chromium from the system, driven by playwright-core; never
 * a browser download): every page against a busy standalone fleet, figures checked against
 * Redis, a dead letter replayed through the UI and handled by a running consumer, the token
 * refused when missing (Redis stopped under an open page: dashboard-redis-down.test.ts).
 * Screenshots of each page go to test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { listDeadLetters, replayDeadLetters } from '../../src/admin/dead-letters.ts'
import { listOrphans } from '../../src/admin/orphans.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { deferred } from '../harness/deferred.ts'
import { topologyOptions } from '../harness/topologies.ts'
import { column, INTERVAL, launch, shot, skipWithoutChromium } from './browser.ts'
import { busyFleet, EVENTS, LIVE_JOBS, MEMBERS, ORPHAN_JOBS } from './fixture.ts'

const TOKEN = 'operator-secret'

describe('dashboard in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  let busy: Awaited<ReturnType<typeof busyFleet>>
  let dashboard: Awaited<ReturnType<typeof startDashboard>>
  const logged: string[] = []

  before(async () => {
    browser = await launch()
    busy = await busyFleet(await topologyOptions('standalone'))
    dashboard = await startDashboard(busy.fleet, {
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      allowActions: true,
      log: (line) => logged.push(line),
      interval: INTERVAL,
    })
  })

  after(async () => {
    await dashboard?.close()
    await busy?.close()
    await browser?.close()
  })

  let shared: Page | undefined
  /** What the operator's tab logged as errors (a failed request, a script's exception). */
  const consoleErrors: string[] = []
  /**
   * The operator's tab, on the overview: it opened the dashboard with ?token= once, and its
   * cookie carries the token from then on (every later navigation and refresh relies on it).
   */
  async function operatorPage(): Promise<Page> {
    if (!shared) {
      shared = await browser.newPage({ viewport: { width: 1360, height: 900 } })
      shared.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(`${message.text()} ${message.location().url}`)
      })
      shared.on('pageerror', (error) => consoleErrors.push(String(error)))
      const first = await shared.goto(`${dashboard.url}?token=${TOKEN}`)
      assert.equal(first?.status(), 200)
      return shared
    }
    assert.equal((await shared.goto(dashboard.url))?.status(), 200)
    return shared
  }

  test('the overview shows the figures Redis holds', async () => {
    const page = await operatorPage()
    assert.deepEqual(await column(page, '#members', 'member'), MEMBERS)
    assert.deepEqual(await column(page, '#instances', 'instance'), ['worker-live'])
    assert.deepEqual(await column(page, '#instances', 'jobs in flight'), [String(LIVE_JOBS.length)])
    assert.match(
      await page.textContent('#content .note a.bad').then(String),
      new RegExp(`^${ORPHAN_JOBS.length} orphan`),
    )
    const info = await busy.raw.info('server')
    const version = /redis_version:(\S+)/.exec(info)![1]!
    assert.deepEqual(await column(page, '#nodes', 'version'), [version])
    assert.deepEqual(await column(page, '#nodes', 'state'), ['up'])
    // Groups: billing acked everything (dead-lettered), audit holds every entry pending.
    const groups = Object.fromEntries(
      ((await busy.raw.xinfo('GROUPS', `${busy.namespace}:streams:events`)) as unknown[][]).map((g) => [
        String(g[1]),
        Number(g[g.indexOf('pending') + 1]),
      ]),
    )
    assert.deepEqual(groups, { audit: EVENTS.length, billing: 0 })
    const streamRows = await page.$$eval('#streams tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent?.trim())),
    )
    const audit = streamRows.find((r) => r.includes('audit'))!
    assert.deepEqual(audit.slice(-3), ['1', String(EVENTS.length), String(groups.audit)])
    assert.deepEqual(await column(page, '#dead-letters', 'channel'), ['billing:dead'])
    assert.deepEqual(await column(page, '#dead-letters', 'entries'), [
      String(await busy.raw.xlen(busy.deadKey)),
    ])
    // The charts are drawn from the dashboard's own samples.
    await page.waitForSelector('[data-chart="throughput"] canvas')
    await shot(page, 'overview')
  })

  test('a tracker instance lists its jobs in flight', async () => {
    const page = await operatorPage()
    await page.click('#instances a')
    await page.waitForSelector('#jobs')
    const jobs = await busy.fleet.tracker().inFlight('worker-live')
    assert.deepEqual(
      await column(page, '#jobs', 'job'),
      jobs.map((j) => j.id),
    )
    assert.match(String(await page.textContent('#jobs')), /"amount":42/)
    await shot(page, 'tracker-instance')
  })

  test('the orphans page lists the jobs of the stopped tracker', async () => {
    const page = await operatorPage()
    await page.click('nav a[href="orphans"]')
    await page.waitForSelector('#orphans')
    const orphans = await listOrphans(busy.fleet)
    assert.deepEqual(orphans.map((o) => o.id).sort(), [...ORPHAN_JOBS].sort())
    assert.deepEqual(
      await column(page, '#orphans', 'job'),
      orphans.map((o) => o.id),
    )
    assert.deepEqual(new Set(await column(page, '#orphans', 'instance')), new Set(['worker-gone']))
    await shot(page, 'orphans')
  })

  test('stream → group → consumer → pending entries match XPENDING', async () => {
    const page = await operatorPage()
    await page.locator('#streams a', { hasText: 'streams:events' }).click()
    await page.waitForSelector('#groups')
    assert.deepEqual(await column(page, '#groups', 'group'), ['audit', 'billing'])
    await shot(page, 'stream')
    await page.locator('#groups a', { hasText: 'audit' }).click()
    await page.waitForSelector('#pending')
    await page.locator('#consumers a', { hasText: 'auditor-1' }).click()
    await page.waitForSelector('#consumers tr.selected')
    const pending = (await busy.raw.xpending(`${busy.namespace}:streams:events`, 'audit', '-', '+', 100)) as [
      string,
      string,
      number,
      number,
    ][]
    assert.equal(pending.length, EVENTS.length)
    assert.deepEqual(
      await column(page, '#pending', 'entry'),
      pending.map((p) => p[0]),
    )
    assert.deepEqual(
      await column(page, '#pending', 'consumer'),
      pending.map((p) => p[1]),
    )
    assert.deepEqual(
      await column(page, '#pending', 'deliveries'),
      pending.map((p) => String(p[3])),
    )
    // Payloads are user data: shown as text, never as markup.
    assert.match(String(await page.textContent('#pending')), /<img src=x onerror=alert\(1\)>/)
    assert.equal(await page.$('#pending img'), null)
    await shot(page, 'group')
  })

  test('a dead letter replayed through the UI is handled by a running consumer', async () => {
    const letters = await listDeadLetters(busy.fleet, 'billing:dead')
    assert.ok(letters.length >= EVENTS.length, `${letters.length} dead letters`)
    const page = await operatorPage()
    await page.click('#dead-letters a')
    await page.waitForSelector('#letters')
    assert.deepEqual(
      await column(page, '#letters', 'entry'),
      letters.map((l) => l.id),
    )
    assert.deepEqual(
      await column(page, '#letters', 'deliveries'),
      letters.map((l) => String(l.deliveries)),
    )
    assert.match(String(await page.textContent('#letters')), /card declined <b>for real<\/b>/)

    const handled = deferred<Record<string, unknown>>()
    const fixed = new AbortController()
    const consumer = busy.fleet.streams().consume('billing', 'biller-2', (d) => handled.resolve(d.envelope), {
      signal: fixed.signal,
    })
    try {
      const chosen = letters[0]!
      await page.check(`input[name="id"][value="${chosen.id}"]`)
      await page.locator('button', { hasText: 'Replay selected' }).click()
      await page.waitForSelector('#confirm:not([hidden])')
      assert.match(String(await page.textContent('#confirm-text')), /Replay 1 selected dead letter/)
      await shot(page, 'dead-letters-confirm')
      await page.click('#confirm-ok')
      await page.waitForSelector('#flash.ok')
      assert.match(String(await page.textContent('#flash')), /replayed 1 dead letter/)
      assert.deepEqual(await handled.promise, chosen.envelope)
      assert.deepEqual(
        (await listDeadLetters(busy.fleet, 'billing:dead')).map((l) => l.id),
        letters.slice(1).map((l) => l.id),
      )
      assert.equal(logged.length, 1)
      assert.match(logged[0]!, /replayed 1 dead letter\(s\) of 'billing:dead'/)
      await page.waitForFunction((id) => !document.querySelector(`tr[data-entry="${id}"]`), chosen.id)
      await shot(page, 'dead-letters')
      // A row replayed elsewhere meanwhile (another operator): replaying it does nothing, and says so.
      const stale = letters[1]!
      await page.check(`input[name="id"][value="${stale.id}"]`)
      await replayDeadLetters(busy.fleet, 'billing:dead', { ids: [stale.id] })
      await page.locator('button', { hasText: 'Replay selected' }).click()
      await page.waitForSelector('#confirm:not([hidden])')
      await page.click('#confirm-ok')
      await page.waitForSelector('#flash.warn')
      assert.match(
        String(await page.textContent('#flash')),
        /replayed 0 dead letter.*1 of the 1 ids given are not among/,
      )
    } finally {
      fixed.abort()
      await consumer
    }
  })

  test('no page the operator opened logged an error (not even a missing favicon)', () => {
    assert.ok(shared, 'the pages were opened')
    assert.deepEqual(consoleErrors, [])
  })

  test('a request without the token is refused', async () => {
    for (const path of ['', 'status.json', 'metrics', 'rates.json', 'static/dashboard.js', 'orphans']) {
      assert.equal((await fetch(`${dashboard.url}${path}`)).status, 401, path)
      const wrong = await fetch(`${dashboard.url}${path}`, { headers: { authorization: 'Bearer nope' } })
      assert.equal(wrong.status, 401, path)
      const right = await fetch(`${dashboard.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      assert.equal(right.status, 200, path)
    }
    const page = await browser.newPage()
    assert.equal((await page.goto(dashboard.url))?.status(), 401)
    assert.match(String(await page.textContent('body')), /needs its token/)
    await shot(page, 'unauthorized')
    await page.close()
  })
})
