import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { expandKey, expandVersion, truncateKey } from '../../src/cache/keys.ts'
import { InvalidArgumentError } from '../../src/errors.ts'

/** Asserts that expanding `key` is a TypeError with the key code, and returns its message. */
function rejected(key: unknown): string {
  try {
    expandKey(key, 'read')
  } catch (error) {
    assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`)
    assert.ok(error instanceof InvalidArgumentError)
    assert.equal(error.code, 'ERR_INVALID_KEY')
    return error.message
  }
  assert.fail(`${String(key)} was accepted as a cache key`)
}

test("Rails' expansion: strings, numbers, cacheKey(), arrays joined with '/', sorted plain objects", () => {
  assert.equal(expandKey('k', 'read'), 'k')
  assert.equal(expandKey(42, 'read'), '42')
  assert.equal(expandKey({ cacheKey: () => 'users/1' }, 'read'), 'users/1')
  assert.equal(expandKey(['k', 'foo'], 'read'), 'k/foo')
  assert.equal(expandKey(['k', ['a', 1]], 'read'), 'k/a/1')
  assert.equal(expandKey(['only'], 'read'), 'only')
  assert.equal(expandKey({ b: 2, a: 'x', c: true }, 'read'), 'a=x/b=2/c=true')
  assert.equal(expandKey(Object.assign(Object.create(null), { z: 1 }), 'read'), 'z=1')
  assert.equal(expandKey([{ cacheKey: () => 'u/1' }, { p: 1 }], 'read'), 'u/1/p=1')
})

test('blank keys are a TypeError', () => {
  for (const key of ['', [], {}, null, undefined, [null], ['']]) {
    assert.match(rejected(key), /cache\.read: key cannot be blank/)
  }
})

test('a cyclic array or object key is a TypeError (not a RangeError), naming no value', () => {
  const array: unknown[] = ['a']
  array.push(array)
  assert.match(rejected(array), /cyclic/)
  const object: Record<string, unknown> = { a: 1 }
  object.self = object
  assert.match(rejected(object), /cyclic/)
  const deep: Record<string, unknown> = { a: [{ b: 1 }] }
  ;((deep.a as unknown[])[0] as Record<string, unknown>).back = deep
  assert.match(rejected(['x', deep]), /cyclic/)
  // The same object twice side by side is no cycle.
  const shared = ['s', 1]
  assert.equal(expandKey([shared, shared], 'read'), 's/1/s/1')
})

test('an object without a key of its own is a TypeError, so two of them can never share an entry', () => {
  class Foo {
    constructor(readonly id: number) {}
  }
  assert.match(rejected(new Foo(1)), /a Foo cannot be a cache key; give it a cacheKey\(\) method/)
  assert.match(rejected(new Foo(2)), /a Foo cannot be a cache key/)
  for (const key of [new Map([['a', 1]]), new Set([1]), new Date(0), /re/, Promise.resolve(1)]) {
    rejected(key)
  }
  // Inside an array or as an object's value too.
  rejected(['users', new Foo(1)])
  rejected({ user: new Foo(1) })
  rejected([() => 'k'])
  rejected(Symbol('k'))
  // With cacheKey() a class instance is a fine key.
  class Bar {
    constructor(readonly id: number) {}
    cacheKey(): string {
      return `bar/${this.id}`
    }
  }
  assert.notEqual(expandKey(new Bar(1), 'read'), expandKey(new Bar(2), 'read'))
})

test('a cacheKey() or toParam() that returns neither a string nor a number is a TypeError naming what it gave', () => {
  // A method that forgot its `return`: String() gave every such object the key 'undefined'.
  assert.match(
    rejected({ id: 1, cacheKey() {} }),
    /cache\.read: the key's cacheKey\(\) returned undefined, not a string/,
  )
  assert.match(rejected({ cacheKey: () => null }), /cacheKey\(\) returned null/)
  assert.match(rejected({ cacheKey: () => ({ order: 1 }) }), /cacheKey\(\) returned an object/)
  assert.match(rejected({ cacheKey: () => ['a', 'b'] }), /cacheKey\(\) returned an array/)
  assert.match(rejected({ cacheKey: () => new Map() }), /cacheKey\(\) returned a Map/)
  assert.match(rejected(['users', { toParam: () => undefined }]), /toParam\(\) returned undefined/)
  assert.equal(expandKey({ cacheKey: () => 7 }, 'read'), '7')
  assert.equal(expandKey({ toParam: () => 'p/1' }, 'read'), 'p/1')
})

test('a key nested deeper than 1000 arrays or objects is a TypeError, not a RangeError', () => {
  for (const wrap of [(inner: unknown) => [inner, 'x'], (inner: unknown) => ({ o: inner })]) {
    let deep: unknown = 'x'
    for (let i = 0; i < 100_000; i++) deep = wrap(deep)
    assert.match(rejected(deep), /the key is nested more than 1000 deep/)
  }
  let fine: unknown = 'x'
  for (let i = 0; i < 999; i++) fine = [fine, 'y']
  assert.ok(expandKey(fine, 'read').startsWith('x/y/y'))
})

test('plain objects with different nested values expand to different keys', () => {
  assert.notEqual(expandKey({ a: { x: 1 } }, 'read'), expandKey({ a: { x: 2 } }, 'read'))
  assert.notEqual(expandKey({ a: [1, 2] }, 'read'), expandKey({ a: [1, 3] }, 'read'))
})

const PREFIX = 'rf:cache:'

test('truncateKey: a key of exactly maxKeySize bytes is kept; one byte more is cut to exactly max', () => {
  const max = 100
  const exact = PREFIX + 'x'.repeat(max - PREFIX.length)
  assert.equal(Buffer.byteLength(exact), max)
  assert.equal(truncateKey(exact, PREFIX.length, max), exact)
  const over = `${exact}y`
  const cut = truncateKey(over, PREFIX.length, max)
  assert.notEqual(cut, over)
  assert.equal(Buffer.byteLength(cut), max)
  assert.ok(cut.startsWith(PREFIX))
  assert.match(cut, /:hash:[0-9a-f]{32}$/)
  assert.equal(truncateKey(over, PREFIX.length, false), over, 'false never shortens')
})

test('truncateKey: multi-byte tails are cut on a character boundary, never above max', () => {
  for (const char of ['é', '€', '😀']) {
    for (let pad = 0; pad < 4; pad++) {
      const full = PREFIX + 'a'.repeat(pad) + char.repeat(200)
      const cut = truncateKey(full, PREFIX.length, 120)
      assert.ok(Buffer.byteLength(cut) <= 120, `${char} pad ${pad}: ${Buffer.byteLength(cut)} bytes`)
      assert.ok(Buffer.byteLength(cut) > 120 - 4, 'at most one character short of max')
      assert.equal(Buffer.from(cut).toString('utf8'), cut, 'valid UTF-8: no broken character')
      assert.ok(!cut.includes('\uFFFD'))
      const body = cut.slice(PREFIX.length, cut.indexOf(':hash:'))
      assert.equal(body, 'a'.repeat(pad) + char.repeat((body.length - pad) / char.length))
    }
  }
})

test('truncateKey: a short key spelled as a long key was shortened to is hashed too, and never lands on its entry', () => {
  const max = 100
  const long = PREFIX + 'x'.repeat(300)
  const shortened = truncateKey(long, PREFIX.length, max)
  assert.notEqual(truncateKey(shortened, PREFIX.length, max), shortened)
  assert.match(truncateKey(shortened, PREFIX.length, max), /:hash:[0-9a-f]{32}$/)
  assert.ok(Buffer.byteLength(truncateKey(shortened, PREFIX.length, max)) <= max)
  // Without a limit too: a cache of the same namespace with one may have made that key.
  assert.match(
    truncateKey(shortened, PREFIX.length, false),
    /^rf:cache:x+:hash:[0-9a-f]{32}:hash:[0-9a-f]{32}$/,
  )
  // Only the exact shape: 32 lowercase hex digits after `:hash:` at the very end.
  for (const kept of [
    `${PREFIX}a:hash:${'A'.repeat(32)}`,
    `${PREFIX}a:hash:${'0'.repeat(31)}`,
    `${PREFIX}a:hash:`,
  ]) {
    assert.equal(truncateKey(kept, PREFIX.length, max), kept)
  }
})

test('truncateKey: two different long keys never share a shortened key', () => {
  const max = 80
  fc.assert(
    fc.property(
      fc.string({ minLength: 60, maxLength: 200, unit: 'grapheme' }),
      fc.string({ minLength: 60, maxLength: 200, unit: 'grapheme' }),
      (a, b) => {
        fc.pre(a !== b)
        assert.notEqual(
          truncateKey(PREFIX + a, PREFIX.length, max),
          truncateKey(PREFIX + b, PREFIX.length, max),
        )
      },
    ),
  )
  // Keys equal up to far past max, differing only in the last character.
  const head = 'k'.repeat(500)
  assert.notEqual(
    truncateKey(`${PREFIX}${head}1`, PREFIX.length, max),
    truncateKey(`${PREFIX}${head}2`, PREFIX.length, max),
  )
})

test('truncateKey: the namespace prefix survives even when it alone is near max', () => {
  const prefix = `${'n'.repeat(70)}:cache:`
  const cut = truncateKey(prefix + 'x'.repeat(200), prefix.length, 64)
  assert.ok(cut.startsWith(prefix), 'nothing lands outside the namespace')
})

test("a key's cacheVersion: one that returns nothing is no version, as in Rails; an object is refused", () => {
  const keyed = (cacheVersion: unknown) => ({ cacheKey: () => 'users/1', cacheVersion })
  assert.equal(
    expandVersion(
      keyed(() => undefined),
      'read',
    ),
    undefined,
  )
  assert.equal(
    expandVersion(
      keyed(() => null),
      'read',
    ),
    undefined,
  )
  assert.equal(
    expandVersion(
      keyed(() => 3),
      'read',
    ),
    '3',
  )
  assert.equal(expandVersion(keyed(7), 'read'), '7')
  const at = new Date(0)
  assert.equal(expandVersion(keyed(at), 'read'), String(at))
  assert.equal(expandVersion(['a', keyed(() => undefined), keyed(2)], 'read'), '2')
  for (const bad of [{ v: 1 }, () => ({ v: 1 }), [1], Symbol('v')]) {
    assert.throws(
      () => expandVersion(keyed(bad), 'read'),
      (error: unknown) =>
        error instanceof InvalidArgumentError &&
        error.code === 'ERR_INVALID_ARGUMENT' &&
        /cache\.read: the key's cacheVersion is .*, not a string or a number/.test(error.message),
    )
  }
})
