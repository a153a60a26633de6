import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { decodeEntry, encodeEntry, entryValue, isCompressed, keepParsed } from '../../src/cache/entry.ts'
import { SerializationError } from '../../src/errors.ts'

const plain = { compress: false, threshold: 1024 }

/** An entry as the near cache keeps it: decoded once, its value parsed once. */
function kept(text: string) {
  const entry = decodeEntry(
    encodeEntry(
      { raw: false, text, typed: false, expiresAt: undefined, version: undefined, tags: undefined },
      plain,
    ),
  )
  keepParsed(entry)
  return entry
}

test('a kept entry hands out a deep copy on every use, never its parsed tree', () => {
  const entry = kept(JSON.stringify({ a: { b: [1, { c: 2 }] }, s: 'x', n: null }))
  const first = entryValue(entry) as { a: { b: [number, { c: number }] }; s: string }
  first.a.b[1].c = 99
  first.a.b.push(3)
  first.s = 'changed'
  assert.deepEqual(entryValue(entry), { a: { b: [1, { c: 2 }] }, s: 'x', n: null })
})

test('a kept entry copies a "__proto__" key as data, never as the prototype', () => {
  const entry = kept('{"__proto__":{"polluted":true},"list":[{"__proto__":[1]}]}')
  const copy = entryValue(entry) as Record<string, unknown>
  assert.equal(Object.getPrototypeOf(copy), Object.prototype)
  assert.ok(Object.hasOwn(copy, '__proto__'))
  assert.deepEqual(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value, { polluted: true })
  const inner = (copy.list as Record<string, unknown>[])[0]!
  assert.equal(Object.getPrototypeOf(inner), Object.prototype)
  assert.deepEqual(Object.getOwnPropertyDescriptor(inner, '__proto__')?.value, [1])
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})

test('a kept entry does not pick up properties added to Object.prototype', () => {
  const entry = kept('{"a":{"b":1}}')
  const proto = Object.prototype as Record<string, unknown>
  proto.injected = { bad: true }
  try {
    const copy = entryValue(entry) as Record<string, unknown>
    assert.deepEqual(Object.keys(copy), ['a'])
    assert.deepEqual(Object.keys(copy.a as object), ['b'])
  } finally {
    delete proto.injected
  }
})

/** A decoded envelope: `entry` with the fields a read or the near cache sets later, not set yet. */
const unparsed = <E extends object>(entry: E) => ({
  ...entry,
  tree: undefined,
  copy: undefined,
  parsed: undefined,
})

test('every envelope is UTF-8 text whose header lengths count UTF-8 bytes', () => {
  const entry = {
    raw: false,
    text: JSON.stringify({ greeting: 'héllo 👋' }),
    typed: false,
    expiresAt: 1_900_000_000_000,
    version: 'v€-👋',
    tags: [
      { name: 'ünï', version: 3 },
      { name: '👋:tag', version: 0 },
    ],
  }
  const stored = encodeEntry(entry, plain)
  assert.equal(typeof stored, 'string')
  // What another client reads: the version's length is its UTF-8 byte count (1 + 3 + 1 + 4).
  assert.ok(stored.includes(`${(9).toString(36)}:v€-👋`))
  assert.deepEqual(decodeEntry(stored), unparsed(entry))
  assert.deepEqual(
    decodeEntry(Buffer.from(stored).toString('utf8')),
    unparsed(entry),
    'survives a UTF-8 round trip',
  )
})

test('compressed envelopes are text too, and only used when they are smaller', () => {
  const text = JSON.stringify({ data: 'x'.repeat(4096) })
  const entry = { raw: false, text, typed: true, expiresAt: undefined, version: '7', tags: undefined }
  const compressed = encodeEntry(entry, { compress: true, threshold: 100 })
  assert.ok(isCompressed(compressed))
  assert.ok(compressed.length < text.length / 10)
  assert.deepEqual(decodeEntry(compressed), unparsed(entry))
  const random = JSON.stringify(randomBytes(600).toString('base64'))
  const incompressible = encodeEntry({ ...entry, text: random }, { compress: true, threshold: 100 })
  assert.equal(isCompressed(incompressible), false)
  assert.equal(decodeEntry(incompressible).text, random)
})

test('a plain string is a raw entry; a corrupt envelope is a SerializationError', () => {
  assert.deepEqual(decodeEntry('42'), {
    raw: true,
    text: '42',
    typed: false,
    expiresAt: undefined,
    version: undefined,
    tags: undefined,
  })
  const stored = encodeEntry(
    { raw: false, text: '1', typed: false, expiresAt: 5, version: 'abc', tags: undefined },
    plain,
  )
  for (const corrupt of [stored.slice(0, 8), `${stored.slice(0, 3)}~`, stored.replace('3:abc', '9:abc')]) {
    assert.throws(() => decodeEntry(corrupt), SerializationError, JSON.stringify(corrupt))
  }
  const deflated = encodeEntry(
    {
      raw: false,
      text: JSON.stringify('y'.repeat(500)),
      typed: false,
      expiresAt: undefined,
      version: undefined,
      tags: undefined,
    },
    { compress: true, threshold: 1 },
  )
  assert.throws(() => decodeEntry(`${deflated.slice(0, 4)}AAAA${deflated.slice(8)}`), SerializationError)
})
