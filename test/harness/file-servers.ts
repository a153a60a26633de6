import { after, before } from 'node:test'
import type { Fleet } from '../../src/index.ts'

/**
 * Servers of the test file's own, started by `start` before its tests, and the fleets its tests
 * open: they are closed after the tests, then the servers are stopped. `servers()` throws when
 * called before the `before` hook has run (at a file's top level).
 */
export function fileServers<T extends { stop(): Promise<unknown> }>(
  what: string,
  start: () => Promise<T>,
): { servers: () => T; fleets: Fleet[] } {
  let started: T | undefined
  const fleets: Fleet[] = []
  before(async () => {
    started = await start()
  })
  after(async () => {
    await Promise.all(fleets.map((fleet) => fleet.close()))
    await started?.stop()
  })
  const servers = () => {
    if (started === undefined) throw new Error(`the file's ${what} is used before its before() hook ran`)
    return started
  }
  return { servers, fleets }
}
