/**
 * Copies of the trees the near cache keeps (src/cache/clone.ts): every copy equals the tree and
 * shares no object or array with it, a tree of a known shape is copied by one function made for
 * that shape, and anything past the bounds is walked.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { cloneJson, copierOf } from '../../src/cache/clone.ts'

/** Parsed as the near cache parses it. */
const parsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

/** Every object and array of a tree. */
function containers(tree: unknown, out: object[] = []): object[] {
  if (typeof tree !== 'object' || tree === null) return out
  out.push(tree)
  for (const item of Object.values(tree)) containers(item, out)
  return out
}

function assertCopy(tree: unknown, copy: unknown, what: string): void {
  assert.deepEqual(copy, tree, `${what}: equal`)
  assert.equal(JSON.stringify(copy), JSON.stringify(tree), `${what}: same key order`)
  const originals = new Set(containers(tree))
  for (const node of containers(copy)) assert.ok(!originals.has(node), `${what}: shares nothing`)
}

const trees: Record<string, unknown> = {
  'flat object': { id: 42, name: 'redfleet', ok: true, none: null },
  nested: { id: 42, tags: ['a', 'b', 'c'], nested: { ok: true, score: 12.5, deeper: [{ x: [1] }] } },
  'array of objects': [{ a: 1 }, { b: [2, { c: 3 }] }, null, 'x'],
  'long array of primitives': Array.from({ length: 40 }, (_, i) => (i % 2 ? i : `s${i}`)),
  'empty containers': { o: {}, a: [], n: [[]] },
  'integer-like keys first, as JSON.parse orders them': { b: 1, 2: 'two', a: { 10: 1, 1: 2 } },
  'keys that are not identifiers': { 'a"b': 1, "c'd": 2, 'e\\f': 3, 'g\u2028h': 4, '': 5, 'x]};//': 6 },
}

test('a copy equals the tree, in key order, and shares no object or array with it', () => {
  for (const [what, value] of Object.entries(trees)) {
    const tree = parsed(value)
    assertCopy(tree, copierOf(tree)(tree), what)
    assertCopy(tree, cloneJson(tree), `${what} (walked)`)
  }
  for (const leaf of [null, 0, 12.5, 'text', true]) assert.equal(copierOf(leaf)(leaf), leaf)
})

test('a __proto__ key stays an own property, as JSON.parse made it, and sets no prototype', () => {
  const tree = JSON.parse('{"__proto__":{"polluted":true},"a":{"__proto__":[1]}}')
  const copy = copierOf(tree)(tree) as Record<string, Record<string, unknown>>
  assertCopy(tree, copy, '__proto__')
  assert.equal(Object.getPrototypeOf(copy), Object.prototype)
  assert.ok(Object.hasOwn(copy, '__proto__'))
  assert.deepEqual(Object.keys(copy), ['__proto__', 'a'])
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})

test('trees of one shape share one copier made for it; other values of that shape copy right', () => {
  const a = parsed({ id: 1, tags: ['x', 'y'], nested: { ok: true } })
  const b = parsed({ id: 'two', tags: [null, 3], nested: { ok: 'no' } })
  const copier = copierOf(a)
  assert.notEqual(copier, cloneJson, 'a small tree gets a copier of its own shape')
  assert.equal(copierOf(b), copier, 'the same shape, the same copier')
  assertCopy(b, copier(b), 'another value of the shape')
  assert.notEqual(
    copierOf(parsed({ id: 1, tags: ['x'], nested: { ok: true } })),
    copier,
    'array length is shape',
  )
  assert.notEqual(
    copierOf(parsed({ tags: ['x', 'y'], id: 1, nested: { ok: true } })),
    copier,
    'key order is shape',
  )
  assert.notEqual(
    copierOf(parsed({ id: {}, tags: ['x', 'y'], nested: { ok: true } })),
    copier,
    'so is what holds objects',
  )
  const long = parsed(Array.from({ length: 100 }, (_, i) => i))
  assert.equal(
    copierOf(parsed(Array.from({ length: 50 }, (_, i) => `${i}`))),
    copierOf(long),
    'long primitive arrays: one',
  )
})

test('a tree too large for a copier of its own is walked', () => {
  const big = parsed(Array.from({ length: 200 }, (_, i) => ({ i })))
  assert.equal(copierOf(big), cloneJson)
  assertCopy(big, copierOf(big)(big), 'large')
})

test('cloneJson ignores enumerable properties added to Object.prototype', () => {
  const proto = Object.prototype as Record<string, unknown>
  proto.injected = { nested: true }
  try {
    const tree = parsed({ a: { b: 1 } })
    const copy = cloneJson(tree) as Record<string, unknown>
    assertCopy(tree, copy, 'walked')
    assert.ok(!Object.hasOwn(copy, 'injected'))
  } finally {
    delete proto.injected
  }
})

test('a process that forbids code generation from strings gets the walk', () => {
  const clone = pathToFileURL(join(import.meta.dirname, '../../src/cache/clone.ts')).href
  const script = `
    const { cloneJson, copierOf } = await import(${JSON.stringify(clone)})
    const tree = JSON.parse('{"a":[1,{"b":2}]}')
    const copier = copierOf(tree)
    console.log(JSON.stringify([copier === cloneJson, copier(tree), copierOf(tree) === cloneJson]))`
  const out = execFileSync(
    process.execPath,
    ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '--eval', script],
    { encoding: 'utf8' },
  )
  assert.deepEqual(JSON.parse(out), [true, { a: [1, { b: 2 }] }, true])
})
