/**
 * On a cluster with `transport: 'node-redis'`, redfleet keeps a route per hash slot it has sent
 * to, for the fleet's life: a busy fleet ends up with all 16,384. Each was three closures and
 * their scopes, about 460 bytes: 7.6 MB per fleet, where ioredis' own slot map is about 85
 * bytes a slot. Now one closure each.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createFleet } from '../../src/index.ts'
import { keySlot, SLOT_COUNT } from '../../src/topology/slot.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Bytes per slot a route may keep: about 250 now (the route, its closure, the key it keeps), 520 before. */
const ROUTE_BOUND = 360

/** A hash tag per slot: `{tag}` puts a key in that slot whatever comes around it. */
function tagPerSlot(): string[] {
  const tags = new Array<string>(SLOT_COUNT)
  let found = 0
  for (let i = 0; found < SLOT_COUNT; i++) {
    const slot = keySlot(`{t${i}}`)
    if (tags[slot] === undefined) {
      tags[slot] = `t${i}`
      found++
    }
  }
  return tags
}

function heapUsed(): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

test('a node-redis cluster fleet that has used every hash slot keeps little per slot', async () => {
  const { cluster } = await testServers()
  const fleet = createFleet({
    url: cluster,
    cluster: true,
    transport: 'node-redis',
    namespace: uniqueNamespace(),
  })
  try {
    const store = fleet.store<number>()
    const tags = tagPerSlot()
    // Connections, scripts and the first routes made before the heap is measured.
    await Promise.all(tags.slice(0, 64).map((tag) => store.get(`{${tag}}`)))
    const before = heapUsed()
    for (let i = 0; i < SLOT_COUNT; i += 256) {
      await Promise.all(tags.slice(i, i + 256).map((tag) => store.get(`{${tag}}`)))
    }
    const perSlot = (heapUsed() - before) / SLOT_COUNT
    assert.ok(perSlot < ROUTE_BOUND, `${Math.round(perSlot)} bytes kept per slot`)
  } finally {
    await fleet.close()
  }
})
