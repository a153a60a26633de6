/**
 * A private server for a test file that holds Redis with `CLIENT PAUSE` to cause ambiguous
 * failures (SPEC §8): a command sent during a pause longer than `commandTimeout` times out on
 * the client and is still applied when the pause ends. A pause stalls every client of the
 * server, so it cannot be the run's shared one; this one is the file's own, started in a
 * `before` hook and stopped, with the fleets made on it, in `after`.
 *
 *   const server = pausableServer()
 *   test('...', async () => {
 *     const fleet = server.fleet({ commandTimeout: 500 })
 *     await server.pause(2500)
 *   })
 */
import { after, before } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { type RedisServer, startRedis } from './redis-server.ts'
import { uniqueNamespace } from './topologies.ts'

export interface PausableServer {
  /**
   * Settles once the server is up: a top-level `before` of the file that uses the server awaits
   * it (Node 20 starts a file's top-level hooks as they are registered, without waiting for one
   * another; tests wait for all of them).
   */
  readonly started: Promise<void>
  readonly url: string
  /**
   * The test's own connection. It is paused too, so a read on it after `pause` waits out the
   * pause and runs after the commands that were held (and after any re-send of them).
   */
  readonly admin: Redis
  /** A fleet on this server, in a namespace of its own unless `options` names one. */
  fleet(options?: FleetOptions): Fleet
  /**
   * `CLIENT PAUSE ms mode`, sent on `admin`: every client's commands (with 'WRITE', its writes
   * only; reads are still served) wait `ms`.
   */
  pause(ms: number, mode?: 'ALL' | 'WRITE'): Promise<void>
  /** `CLIENT UNPAUSE`: the held commands run now. */
  unpause(): Promise<void>
}

/** Registers this file's private server (call at the top level of the test file). */
export function pausableServer(): PausableServer {
  let server: RedisServer | undefined
  let admin: Redis | undefined
  const fleets: Fleet[] = []
  let up!: () => void
  let failed!: (error: unknown) => void
  const started = new Promise<void>((resolve, reject) => {
    up = resolve
    failed = reject
  })
  // Whoever awaits `started` hears of a failure; the hook reports it to the runner in any case.
  started.catch(() => {})
  before(async () => {
    try {
      server = await startRedis()
      admin = new Redis(server.url)
      up()
    } catch (error) {
      failed(error)
      throw error
    }
  })
  after(async () => {
    await Promise.all(fleets.map((fleet) => fleet.close()))
    admin?.disconnect()
    await server?.stop()
  })
  const running = () => {
    if (!server || !admin) throw new Error('pausableServer: used before it started (await `started`)')
    return { server, admin }
  }
  return {
    started,
    get url() {
      return running().server.url
    },
    get admin() {
      return running().admin
    },
    fleet(options) {
      const fleet = createFleet({
        url: running().server.url,
        namespace: uniqueNamespace('faults'),
        ...options,
      })
      fleets.push(fleet)
      return fleet
    },
    async pause(ms, mode = 'ALL') {
      await running().admin.call('CLIENT', 'PAUSE', ms, mode)
    },
    async unpause() {
      await running().admin.call('CLIENT', 'UNPAUSE')
    },
  }
}
