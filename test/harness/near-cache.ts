import { setTimeout as sleep } from 'node:timers/promises'
import type { Cache } from '../../src/index.ts'

/**
 * Reads `key` until the near cache answers it (tracking is live), within `ms`; otherwise fails
 * quoting the last ten of what the fleets `reported` (their onError), the only trace of why.
 */
export async function untilNearHit(cache: Cache, key: string, ms: number, reported: string[]): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const before = cache.stats().nearHits
    await cache.read(key)
    if (cache.stats().nearHits > before) return
    if (Date.now() > deadline) {
      const last = reported.slice(-10).join('\n')
      throw new Error(`the near cache did not come online in ${ms} ms; last reports:\n${last}`)
    }
    await sleep(5)
  }
}
