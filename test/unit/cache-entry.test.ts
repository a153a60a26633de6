import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeEntry, encodeEntry, entryValue, keepParsed } from '../../src/cache/entry.ts'

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
