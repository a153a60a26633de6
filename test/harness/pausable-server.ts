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
  readonly url: string
  /**
   * The test's own connection. It is paused too, so a read on it after `pause` waits out the
   * pause and runs after the commands that were held (and after any re-send of them).
   */
  readonly admin: Redis
  /** A fleet on this server, in a namespace of its own unless `options` names one. */
  fleet(options?: FleetOptions): Fleet
  /** `CLIENT PAUSE ms ALL`, sent on `admin`: every client's commands wait `ms`. */
  pause(ms: number): Promise<void>
}

/** Registers this file's private server (call at the top level of the test file). */
export function pausableServer(): PausableServer {
  let server: RedisServer | undefined
  let admin: Redis | undefined
  const fleets: Fleet[] = []
  before(async () => {
    server = await startRedis()
    admin = new Redis(server.url)
  })
  after(async () => {
    await Promise.all(fleets.map((fleet) => fleet.close()))
    admin?.disconnect()
    await server?.stop()
  })
  const started = () => {
    if (!server || !admin) throw new Error('pausableServer: used outside a test (it starts in `before`)')
    return { server, admin }
  }
  return {
    get url() {
      return started().server.url
    },
    get admin() {
      return started().admin
    },
    fleet(options) {
      const fleet = createFleet({
        url: started().server.url,
        namespace: uniqueNamespace('faults'),
        ...options,
      })
      fleets.push(fleet)
      return fleet
    },
    async pause(ms) {
      await started().admin.call('CLIENT', 'PAUSE', ms, 'ALL')
    },
  }
}
