/**
 * The dashboard in Chromium when Redis goes away under an open page: within one refresh the
 * page says Redis is unreachable and greys out the figures it can no longer vouch for.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { readDeadline } from '../../src/dashboard/deadline.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { createFleet } from '../../src/index.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'
import { column, INTERVAL, launch, shot, skipWithoutChromium } from './browser.ts'

const COMMAND_TIMEOUT = 1000

describe('dashboard in Chromium, Redis stopped', { skip: skipWithoutChromium }, () => {
  let browser: Browser

  before(async () => {
    browser = await launch()
  })

  after(async () => {
    await browser?.close()
  })

  test('Redis stopped: the page says so within one refresh and greys out the figures', async () => {
    const server = await startRedis()
    const fleet = createFleet({
      url: server.url,
      namespace: uniqueNamespace('down'),
      commandTimeout: COMMAND_TIMEOUT,
    })
    await fleet.membership({ ttl: 600_000 }).heartbeat('lonely-1')
    const own = await startDashboard(fleet, {
      host: '127.0.0.1',
      port: 0,
      allowActions: false,
      interval: INTERVAL,
    })
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
    try {
      await page.goto(own.url)
      assert.equal(await page.textContent('#status'), 'live')
      assert.deepEqual(await column(page, '#members', 'member'), ['lonely-1'])
      await server.stop()
      // One refresh: the next tick plus the dashboard's read deadline (with a tick of slack).
      const refresh = INTERVAL + readDeadline(INTERVAL, COMMAND_TIMEOUT)
      await page.waitForSelector('#banner:not([hidden])', { timeout: refresh + INTERVAL })
      assert.match(String(await page.textContent('#banner')), /Redis is unreachable/)
      assert.equal(await page.textContent('#status'), 'unreachable')
      assert.equal(await page.$eval('#content', (el) => el.classList.contains('stale')), true)
      await shot(page, 'redis-down')
    } finally {
      await page.close()
      await own.close()
      await fleet.close()
      await server.stop()
    }
  })
})
