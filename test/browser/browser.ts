import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'

/** The system's Chromium (Debian's package; CI installs it). Never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** `describe`'s skip option: a reason when there is no Chromium to drive, else false. */
export const skipWithoutChromium = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`

/** Where the screenshots of each page go (kept by CI as artifacts). */
export const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/dashboard')

/** Page refresh and sampling interval of the dashboards under test, ms (the default). */
export const INTERVAL = 2000

export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  })
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })
}

/** The texts of one column of a table (by header text), in row order. */
export async function column(page: Page, table: string, header: string): Promise<string[]> {
  return page.$eval(
    table,
    (el, wanted) => {
      const headers = [...el.querySelectorAll('thead th')].map((th) => th.textContent?.trim())
      const index = headers.indexOf(wanted)
      return [...el.querySelectorAll('tbody tr')].map((tr) => tr.children[index]?.textContent?.trim() ?? '')
    },
    header,
  )
}
