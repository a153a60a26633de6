/**
 * A near cache serves a master's entries only within the invalidation bound of the last PING
 * answered on the subscriber connection (docs/cache.md). An ACL user without PING: the cache
 * works without its near part, reads go to Redis, and `onError` is told once (helper-325: it
 * stopped serving, silently).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { invalidationBound, topologyCheckInterval } from '../../src/cache/tracking.ts'
import { createFleet } from '../../src/index.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const cleanups: (() => Promise<unknown>)[] = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

const connectTimeout = 300
const commandTimeout = 200
const bound = invalidationBound(connectTimeout, commandTimeout)
const interval = topologyCheckInterval(commandTimeout)

for (const transport of ['ioredis', 'node-redis'] as const) {
  test(`${transport}: an ACL user without PING: reads go to Redis and onError is told once`, async () => {
    const server = await startRedis()
    cleanups.push(() => server.stop())
    execFileSync('redis-cli', [
      '-p',
      String(server.port),
      'ACL',
      'SETUSER',
      'noping',
      'on',
      '>pw',
      '~*',
      '&*',
      '+@all',
      '-ping',
    ])
    const url = new URL(server.url)
    url.username = 'noping'
    url.password = 'pw'
    const namespace = uniqueNamespace('acl-ping')
    const reported: string[] = []
    const fleet = createFleet({
      url: url.toString(),
      namespace,
      transport,
      connectTimeout,
      commandTimeout,
      onError: (e) => void reported.push(String(e)),
    })
    const writer = createFleet({ url: server.url, namespace, transport })
    cleanups.push(
      () => fleet.close(),
      () => writer.close(),
    )
    const cache = fleet.cache({ near: { max: 100 } })
    await cache.write('k', 'old')
    const pings = () => reported.filter((report) => report.includes('PING'))
    const deadline = performance.now() + 20 * bound
    while (pings().length === 0 && performance.now() < deadline) {
      await cache.read('k')
      await sleep(interval)
    }
    assert.equal(pings().length, 1, reported.join('\n'))
    await writer.cache().write('k', 'new')
    await sleep(bound)
    assert.equal(await cache.read('k'), 'new')
    // More checks, each probing again: still told once.
    await sleep(10 * interval)
    assert.equal(pings().length, 1)
    assert.match(pings()[0]!, /NOPERM/)
  })
}
