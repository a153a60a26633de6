/**
 * A ring grown from two servers to three places about a third of the keys on the new server:
 * their entries on the old servers are not reachable by key any more, but `deleteMatched` and
 * `clear` SCAN every node (SPEC §3) and must delete what they find where they find it, or those
 * entries would outlive every clear and come back if the third server were removed.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet, type Fleet } from '../../src/index.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const servers: RedisServer[] = []
const raws: Redis[] = []
const fleets: Fleet[] = []
before(async () => {
  servers.push(await startRedis(), await startRedis(), await startRedis())
  raws.push(...servers.map((server) => new Redis(server.url)))
})
after(async () => {
  await Promise.all(fleets.map((fleet) => fleet.close()))
  for (const raw of raws) raw.disconnect()
  await Promise.all(servers.map((server) => server.stop()))
})

const open = (urls: string[], namespace: string) => {
  const fleet = createFleet({ url: urls, namespace })
  fleets.push(fleet)
  return fleet.cache()
}

/** Keys of `namespace` on each server. */
const keysOn = (namespace: string) => Promise.all(raws.map((raw) => raw.keys(`${namespace}:*`)))

for (const call of ['deleteMatched', 'clear'] as const) {
  test(`a ring grown by a server: ${call} deletes the entries the ring now places elsewhere`, async () => {
    const namespace = uniqueNamespace()
    const urls = servers.map((server) => server.url)
    const entries = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))
    await open(urls.slice(0, 2), namespace).writeMulti(entries)
    const grown = open(urls, namespace)
    const before = await keysOn(namespace)
    assert.equal(before.flat().length, 100)
    // The grown ring would read about a third of them from the new server, where they are not.
    assert.ok((await grown.readMulti(Object.keys(entries))).size < 100, 'some keys now placed elsewhere')

    if (call === 'deleteMatched') assert.equal(await grown.deleteMatched('k*'), 100)
    else await grown.clear()
    assert.deepEqual(await keysOn(namespace), [[], [], []])
  })
}
