/**
 * `read`'s `raw` option (SPEC §3: Rails' signature) changes nothing: entries describe
 * themselves, so a plain string reads back as that string without it, and `raw: true` never
 * hands out an envelope. `readCounter` relies on the first half: it reads without `raw`.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { createFleet } from '../../src/fleet.ts'

const fleet = createFleet({ namespace: `unit-raw-${process.pid}` })
after(() => fleet.close())
const cache = fleet.cache({ namespace: 'raw' })

test('a raw write reads back as its plain string with or without raw', async () => {
  await cache.write('plain', 42, { raw: true })
  assert.equal(await cache.read('plain'), '42')
  assert.equal(await cache.read('plain', { raw: true }), '42')
})

test('an envelope reads back as its value with raw: true, never as the stored text', async () => {
  await cache.write('object', { a: [1, 2] })
  assert.deepEqual(await cache.read('object', { raw: true }), { a: [1, 2] })
  await cache.write('text', 'hello')
  assert.equal(await cache.read('text', { raw: true }), 'hello')
})

test('a counter reads back through readCounter, written by increment or writeCounter', async () => {
  assert.equal(await cache.increment('hits', 3), 3)
  assert.equal(await cache.readCounter('hits'), 3)
  assert.equal(await cache.writeCounter('set', 7), true)
  assert.equal(await cache.readCounter('set'), 7)
  assert.equal(await cache.read('set'), '7')
})
