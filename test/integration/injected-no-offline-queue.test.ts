/**
 * A client injected with its offline queue off (ioredis `enableOfflineQueue: false`, node-redis
 * `disableOfflineQueue: true`): its commands fail at once while it has no connection, as its
 * user chose. redfleet's own connections made from it (`duplicate()`s, for blocking reads and
 * subscriptions) open on their first command and must wait for it: they inherited the setting,
 * that command was refused every time, and no consume, tail or inbox loop read an entry, with
 * nothing reported (helper-295).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Cluster, Redis } from 'ioredis'
import { createClient as createClient5, createCluster as createCluster5 } from 'node-redis5'
import { createClient as createClient6, createCluster as createCluster6 } from 'node-redis6'
import { createFleet, type FleetOptions } from '../../src/index.ts'
import { deferred } from '../harness/deferred.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Entries each loop is sent. */
const SENT = 5

type Closable = { close?(): Promise<unknown>; disconnect?(): void; connect?(): Promise<unknown> }
type Make = (options: object) => Closable

const nodeRedis = (version: string, createClient: Make, createCluster: Make) => ({
  [`a ${version} client`]: ({ standalone }: Servers) =>
    createClient({ url: standalone, disableOfflineQueue: true }),
  [`a ${version} cluster`]: ({ cluster }: Servers) =>
    createCluster({ rootNodes: cluster.map((url) => ({ url })), defaults: { disableOfflineQueue: true } }),
})

type Servers = { standalone: string; cluster: string[] }
const CLIENTS: Record<string, (servers: Servers) => Closable> = {
  'an ioredis client': ({ standalone }) =>
    new Redis(standalone, { enableOfflineQueue: false, lazyConnect: true }),
  'an ioredis Cluster': ({ cluster }) =>
    new Cluster(cluster, { enableOfflineQueue: false, lazyConnect: true }),
  ...nodeRedis('node-redis 5', createClient5 as unknown as Make, createCluster5 as unknown as Make),
  ...nodeRedis('node-redis 6', createClient6 as unknown as Make, createCluster6 as unknown as Make),
}

const opened: Closable[] = []
after(async () => {
  for (const client of opened) await (client.close?.() ?? client.disconnect?.())
})

for (const [kind, make] of Object.entries(CLIENTS)) {
  test(`${kind} without an offline queue: consume, tail and inbox read what is sent`, async () => {
    const client = make(await testServers())
    ;(client as { on(event: string, listener: () => void): void }).on('error', () => undefined)
    await client.connect?.()
    opened.push(client)
    const fleet = createFleet({ client, namespace: uniqueNamespace('noq') } as FleetOptions)
    const stop = new AbortController()
    try {
      const streams = fleet.streams()
      await streams.ensureGroup('g')
      const consumed: unknown[] = []
      const tailed: unknown[] = []
      const received: unknown[] = []
      const all = deferred()
      const check = () => {
        if (consumed.length >= SENT && tailed.length >= SENT && received.length >= SENT) all.resolve()
      }
      const loops = [
        streams.consume(
          'g',
          'c',
          (entry) => {
            consumed.push(entry.id)
            check()
          },
          {
            signal: stop.signal,
          },
        ),
        streams.tail(
          'ch',
          '0',
          (entry) => {
            tailed.push(entry.id)
            check()
          },
          { signal: stop.signal },
        ),
        (async () => {
          for await (const message of fleet.membership().inbox('me', { signal: stop.signal, from: '0' })) {
            received.push(message)
            check()
          }
        })(),
      ]
      for (let i = 0; i < SENT; i++) {
        // On the main stream (consume) and the channel (tail).
        await streams.publish({ i }, ['ch'])
        await fleet.membership().send('me', { i })
      }
      await all.promise
      stop.abort()
      await Promise.all(loops)
      assert.equal(consumed.length, SENT)
      assert.equal(tailed.length, SENT)
      assert.equal(received.length, SENT)
    } finally {
      stop.abort()
      await fleet.close()
    }
  })
}
