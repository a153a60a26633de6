/**
 * What one write stores (envelope.ts over entry.ts): every header field round-trips, expiry and
 * Redis TTL are computed from the injected `now`, raw values stay plain strings.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeEntry, entryValue, isExpired, isMismatched } from '../../src/cache/entry.ts'
import { prepareValue, sealEntry } from '../../src/cache/envelope.ts'
import { RACE_CONDITION_PADDING, resolveDefaults, WriteSettings } from '../../src/cache/options.ts'

const defaults = resolveDefaults({})
const settings = (o: ConstructorParameters<typeof WriteSettings>[1] = {}) =>
  new WriteSettings(defaults, o, 'write')
const NOW = 1_700_000_000_000

test('an envelope keeps value, type tags, expiry, version and tag stamps', () => {
  const s = settings({ expiresIn: 60_000 })
  const value = { when: new Date(0), list: [1, 'two', null], word: 'héllo ✓' }
  const sealed = sealEntry(
    prepareValue('write', 'k', value, s),
    s,
    'v7',
    [
      { name: 'users', version: 3 },
      { name: 'ünï', version: 0 },
    ],
    NOW,
    'write',
  )!
  assert.equal(sealed.ttl, 60_000)
  const entry = decodeEntry(sealed.bytes)
  assert.deepEqual(entryValue(entry), value)
  assert.equal(entry.expiresAt, NOW + 60_000)
  assert.equal(entry.version, 'v7')
  assert.deepEqual(entry.tags, [
    { name: 'users', version: 3 },
    { name: 'ünï', version: 0 },
  ])
  assert.equal(isExpired(entry, NOW + 59_999), false)
  assert.equal(isExpired(entry, NOW + 60_000), true, 'a read at expiresAt never returns it')
  assert.equal(isMismatched(entry, 'v8'), true)
  assert.equal(isMismatched(entry, undefined), false, 'an unversioned read matches any version')
})

test('expiry: expiresAt counts from now, raceConditionTtl pads the Redis TTL, a past expiry seals nothing', () => {
  const at = settings({ expiresAt: NOW + 1500 })
  const sealed = sealEntry(prepareValue('write', 'k', 1, at), at, undefined, undefined, NOW, 'write')!
  assert.equal(sealed.ttl, 1500)
  assert.equal(decodeEntry(sealed.bytes).expiresAt, NOW + 1500)
  const race = settings({ expiresIn: 1000, raceConditionTtl: 10 })
  const padded = sealEntry(prepareValue('write', 'k', 1, race), race, undefined, undefined, NOW, 'write')!
  assert.equal(padded.ttl, 1000 + RACE_CONDITION_PADDING)
  const past = settings({ expiresAt: NOW - 1 })
  assert.equal(
    sealEntry(prepareValue('write', 'k', 1, past), past, undefined, undefined, NOW, 'write'),
    undefined,
  )
  const forever = settings()
  const plain = sealEntry(
    prepareValue('write', 'k', 1, forever),
    forever,
    undefined,
    undefined,
    NOW,
    'write',
  )!
  assert.equal(plain.ttl, undefined)
  assert.equal(decodeEntry(plain.bytes).expiresAt, undefined)
})

test('raw values are stored as plain strings; a raw string that looks like an envelope is refused', () => {
  const raw = settings({ raw: true })
  const sealed = sealEntry(prepareValue('write', 'n', 42, raw), raw, undefined, undefined, NOW, 'write')!
  assert.equal(sealed.bytes, '42')
  assert.equal(entryValue(decodeEntry(sealed.bytes)), '42')
  assert.throws(() => prepareValue('write', 'n', '\u0000rf@x', raw), TypeError)
  assert.throws(() => prepareValue('write', 'n', { no: 'objects' }, raw), TypeError)
  assert.throws(() => prepareValue('write', 'k', undefined, settings()), /undefined cannot be cached/)
})

test('compression: a large compressible value is stored compressed and reads back equal', () => {
  const s = settings({ compressThreshold: 100 })
  const value = { text: 'redfleet '.repeat(500) }
  const sealed = sealEntry(prepareValue('write', 'k', value, s), s, undefined, undefined, NOW, 'write')!
  assert.ok(sealed.bytes.length < JSON.stringify(value).length / 4)
  assert.deepEqual(entryValue(decodeEntry(sealed.bytes)), value)
  const off = settings({ compress: false })
  const uncompressed = sealEntry(
    prepareValue('write', 'k', value, off),
    off,
    undefined,
    undefined,
    NOW,
    'write',
  )!
  assert.ok(uncompressed.bytes.length > JSON.stringify(value).length)
})

test('a value that is not plain JSON is read twice, not more: the plain check, then the careful copy', () => {
  let reads = 0
  const value = {
    get counted() {
      reads++
      return 1
    },
    when: new Date(0),
  }
  const prepared = prepareValue('write', 'k', value, settings())
  assert.equal(prepared.typed, true)
  assert.equal(reads, 2)
})
