/**
 * The slot owners the near caches' trackings share (TopologyWatch.slotOwners): one read of the
 * client per run of code however many trackings sync, and the same array while no slot changed
 * hands, so that each tracking tells a change by identity. 150 tenant namespaces each copying
 * and comparing the 16384 slots at every sync took a core, idle.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TopologyWatch } from '../../src/cache/topology-watch.ts'
import type { RedisTopology } from '../../src/topology/types.ts'

function fakeTopology(owners: () => (string | undefined)[] | undefined) {
  let reads = 0
  const topology = {
    slotOwners: () => {
      reads++
      return owners()
    },
  } as unknown as RedisTopology
  return { topology, reads: () => reads }
}

const layout = (split: number) => Array.from({ length: 16384 }, (_, slot) => (slot < split ? 'a:1' : 'b:2'))

test('slot owners: read once per run of code, the same array until a slot changes hands', async () => {
  let split = 8192
  const { topology, reads } = fakeTopology(() => layout(split))
  const watch = new TopologyWatch()
  const first = watch.slotOwners(topology)
  assert.equal(watch.slotOwners(topology), first, 'a second tracking in the same run shares it')
  assert.equal(reads(), 1)
  await Promise.resolve()
  assert.equal(watch.slotOwners(topology), first, 'read again later: nothing moved, the same array')
  assert.equal(reads(), 2)
  split = 100
  await Promise.resolve()
  const moved = watch.slotOwners(topology)
  assert.notEqual(moved, first, 'a slot changed hands: a new array')
  assert.equal(moved![100], 'b:2')
  assert.equal(first![100], 'a:1', 'the array a tracking holds is never changed under it')
})

test('slot owners: none known (no slot map yet) is undefined, then the first map', async () => {
  let owners: (string | undefined)[] | undefined
  const { topology } = fakeTopology(() => owners)
  const watch = new TopologyWatch()
  assert.equal(watch.slotOwners(topology), undefined)
  owners = layout(1)
  await Promise.resolve()
  assert.deepEqual(watch.slotOwners(topology), owners)
})
