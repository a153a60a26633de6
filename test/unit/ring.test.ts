import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hashSlotSource } from '../../src/keyspace.ts'
import { HashRing, ringHash, VIRTUAL_NODES } from '../../src/topology/ring.ts'

const nodes = ['10.0.0.1:6379/0', '10.0.0.2:6379/0', '10.0.0.3:6379/0']
const keys = Array.from({ length: 10_000 }, (_, i) => `key:${i}`)

test('the ring places every key by node ids only, whatever order they are listed in', () => {
  const a = new HashRing(nodes)
  const b = new HashRing([...nodes].reverse())
  for (const key of keys) assert.equal(a.nodeFor(key), b.nodeFor(key))
})

test('three nodes share keys roughly evenly (160 virtual nodes each)', () => {
  const ring = new HashRing(nodes)
  const counts = new Map<string, number>()
  for (const key of keys) counts.set(ring.nodeFor(key), (counts.get(ring.nodeFor(key)) ?? 0) + 1)
  assert.equal(counts.size, 3)
  for (const count of counts.values()) assert.ok(count > 2500 && count < 4200, `uneven share: ${count}`)
})

test('adding a node moves only keys onto the new node', () => {
  const before = new HashRing(nodes)
  const after = new HashRing([...nodes, '10.0.0.4:6379/0'])
  let moved = 0
  for (const key of keys) {
    if (before.nodeFor(key) !== after.nodeFor(key)) {
      moved++
      assert.equal(after.nodeFor(key), '10.0.0.4:6379/0')
    }
  }
  assert.ok(moved > 1500 && moved < 3500, `moved ${moved} of ${keys.length}`)
})

test('keys with the same non-empty hash tag share a node; empty tags do not count', () => {
  const ring = new HashRing(nodes)
  const tagged = Array.from({ length: 200 }, (_, i) => `ns:{user:7}:item:${i}`)
  assert.equal(new Set(tagged.map((k) => ring.nodeFor(k))).size, 1)
  assert.equal(hashSlotSource('a{b}c'), 'b')
  assert.equal(hashSlotSource('a{}c{d}'), 'a{}c{d}')
  assert.equal(hashSlotSource('a{b'), 'a{b')
  assert.equal(hashSlotSource('{x}{y}'), 'x')
})

test('a key belongs to the first of 160 points per node at or after its hash, clockwise', () => {
  const ring = new HashRing(nodes)
  const points = nodes.flatMap((node) =>
    Array.from({ length: VIRTUAL_NODES }, (_, i) => ({ hash: ringHash(`${node}-${i}`), node })),
  )
  assert.equal(VIRTUAL_NODES, 160)
  // A point's own label hashes onto that point: the key sits exactly on it and belongs to it.
  const onPoints = nodes.map((node) => `${node}-7`)
  for (const key of [...keys, ...onPoints]) {
    const hash = ringHash(hashSlotSource(key))
    let owner = points[0]!
    let best = Number.POSITIVE_INFINITY
    for (const point of points) {
      const distance = (point.hash - hash) >>> 0
      if (distance < best || (distance === best && point.node < owner.node)) {
        best = distance
        owner = point
      }
    }
    assert.equal(ring.nodeFor(key), owner.node, key)
  }
})

test('two nodes with a point on the same hash: the smaller id owns it, whatever the listing order', () => {
  // CRC32 collides for these labels ('…-0'), so both nodes put their first point on one hash.
  const [small, large] = ['82c3decb79cd', 'a4b14650d150']
  assert.equal(ringHash(`${small}-0`), ringHash(`${large}-0`))
  const key = `${small}-0`
  assert.equal(new HashRing([small, large]).nodeFor(key), small)
  assert.equal(new HashRing([large, small]).nodeFor(key), small)
})
