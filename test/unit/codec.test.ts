import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { assertCodec, decodeJson, decodeWith, encodeJson, encodeWith, textCodec } from '../../src/codec.ts'
import { ConfigError, SerializationError } from '../../src/errors.ts'

const problem = (value: unknown): string => {
  try {
    encodeJson(value, 'store.set', 'k')
  } catch (error) {
    assert.ok(error instanceof SerializationError)
    assert.equal(error.code, 'ERR_SERIALIZATION')
    return error.message
  }
  return 'accepted'
}

test('every JSON value round-trips exactly, -0 included, as JSON any reader parses', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const text = encodeJson(value, 'op', 'k')
      assert.deepEqual(decodeJson(text, 'op', 'k'), value)
      assert.deepEqual(JSON.parse(text), value)
      // The same text as JSON.stringify's, but for the -0 it writes as 0.
      assert.equal(JSON.stringify(JSON.parse(text)), JSON.stringify(value))
    }),
  )
})

test('-0 is written as -0 where JSON.stringify writes 0, at any depth', () => {
  const at = { toJSON: () => 'kept' }
  assert.equal(encodeJson(-0, 'op', 'k'), '-0')
  assert.equal(
    encodeJson({ a: -0, b: [1, -0, { c: -0, d: undefined }], 'x"y': 0, at }, 'op', 'k'),
    '{"a":-0,"b":[1,-0,{"c":-0}],"x\\"y":0,"at":"kept"}',
  )
  assert.match(problem({ a: -0, b: [new Map()] }), /value\.b\[0\] is a Map/)
  const throws = { toJSON: () => assert.fail('no') }
  assert.match(problem({ a: -0, t: throws }), /value\.t has a toJSON\(\) that throws \(no\)/)
})

test('what JSON would change is rejected with the path to it, never the value', () => {
  const cases: [unknown, string][] = [
    [undefined, "store.set 'k': value is undefined"],
    [() => 1, 'value is a function'],
    [Symbol('x'), 'value is a symbol'],
    [10n, 'value is a BigInt'],
    [Number.NaN, 'value is NaN'],
    [{ a: { b: [0, Number.POSITIVE_INFINITY] } }, 'value.a.b[1] is Infinity'],
    [[1, undefined], 'value[1] is undefined'],
    [holey(), 'value[1] is undefined'],
    [{ d: new Date(0) }, 'value.d is a Date'],
    [{ items: [1, 2, new Map()] }, 'value.items[2] is a Map'],
    [new Set(), 'value is a Set'],
    [{ p: Promise.resolve() }, 'value.p is a Promise'],
    [{ 'a-b': new Float64Array(1) }, 'value["a-b"] is a Float64Array'],
    [{ buf: Buffer.from('secret') }, 'value.buf is a Buffer'],
    [{ e: new Error('x') }, 'value.e is an Error'],
    [{ $ok_1: { f() {} } }, 'value.$ok_1.f is a function'],
  ]
  for (const [value, message] of cases) assert.match(problem(value), new RegExp(literal(message)), message)
  assert.doesNotMatch(problem({ secret: 'hunter2', n: 10n }), /hunter2|10/)
})

class SelfJSON {
  readonly a = 1
  toJSON(): this {
    return this
  }
}

test('what a toJSON returns must come back as it was returned', () => {
  const cases: [unknown, string][] = [
    [{ x: { toJSON: () => Number.NaN } }, 'value.x.toJSON() is NaN'],
    [{ toJSON: () => new Map([[1, 2]]) }, 'value.toJSON() is a Map'],
    [[{ toJSON: () => undefined }], 'value[0].toJSON() is undefined'],
    [{ a: { toJSON: () => ({ d: new Date(0) }) } }, 'value.a.toJSON().d is a Date'],
    // A toJSON that returns its own object: a class instance is refused by name (it was "nested
    // too deeply": the check called it forever); a plain object's members are checked.
    [new SelfJSON(), 'value has a toJSON() that returns the instance itself'],
    [{ x: [new SelfJSON()] }, 'value.x[0] has a toJSON() that returns the instance itself'],
    [
      {
        y: {
          a: Number.NaN,
          toJSON() {
            return this
          },
        },
      },
      'value.y.a is NaN',
    ],
  ]
  for (const [value, message] of cases) assert.match(problem(value), new RegExp(literal(message)), message)
})

test('a value nested deeper than the check can walk is a SerializationError, not a RangeError', () => {
  let deep: unknown = 1
  for (let i = 0; i < 100_000; i++) deep = [deep]
  assert.throws(
    () => encodeJson(deep, 'store.set', 'k'),
    (error: unknown) =>
      error instanceof SerializationError && /value is nested too deeply/.test(error.message),
  )
})

test('cycles and BigInt deep inside are found after JSON.stringify throws', () => {
  const node: Record<string, unknown> = { name: 'root', children: [] }
  ;(node.children as unknown[]).push({ parent: node })
  assert.match(problem(node), /value\.children\[0\]\.parent is a cycle/)
  // The same object twice is not a cycle.
  const shared = { x: 1 }
  assert.equal(problem({ a: shared, b: [shared] }), 'accepted')
  assert.match(problem({ deep: [{ n: 1n }] }), /value\.deep\[0\]\.n is a BigInt/)
})

test('plain objects, null-prototype objects, toJSON instances and undefined properties are accepted', () => {
  class Money {
    constructor(readonly cents: number) {}
    toJSON() {
      return this.cents
    }
  }
  assert.equal(encodeJson({ m: new Money(5) }, 'op', 'k'), '{"m":5}')
  // A plain object may say how it is stored, as a class instance may.
  assert.equal(encodeJson({ toJSON: () => 'x' }, 'op', 'k'), '"x"')
  assert.equal(encodeJson({ at: { toJSON: () => 7, secret: () => 1 } }, 'op', 'k'), '{"at":7}')
  assert.equal(encodeJson(Object.assign(Object.create(null), { a: 1 }), 'op', 'k'), '{"a":1}')
  assert.equal(encodeJson({ a: undefined, b: 1 }, 'op', 'k'), '{"b":1}')
  assert.equal(encodeJson(null, 'op', 'k'), 'null')
})

test('decodeJson: missing is undefined, corrupt text is a SerializationError', () => {
  assert.equal(decodeJson(null, 'op', 'k'), undefined)
  assert.equal(decodeJson(undefined, 'op', 'k'), undefined)
  assert.throws(() => decodeJson('{', 'store.get', 'k'), /store\.get 'k': stored value is not JSON/)
})

test('a user codec: checked at creation, its failures become SerializationError', () => {
  assert.throws(() => assertCodec({ encode: JSON.stringify }, 'codec'), ConfigError)
  assert.throws(() => assertCodec(null, 'codec'), /codec must be an object with encode/)
  assert.equal(assertCodec(undefined, 'codec'), undefined)
  const codec = textCodec({
    encode: (value) => (value === 'bad' ? (1 as unknown as string) : `v:${String(value)}`),
    decode: (text) => {
      if (!text.startsWith('v:')) throw new Error('corrupt')
      return text.slice(2)
    },
  })
  assert.equal(codec.encode('x', 'op', 'k'), 'v:x')
  assert.equal(codec.decode('v:x', 'op', 'k'), 'x')
  assert.equal(codec.decode(null, 'op', 'k'), undefined)
  assert.throws(() => codec.encode('bad', 'store.set', 'k'), /returned the number 1, not a string/)
  assert.throws(
    () => codec.decode('zz', 'store.get', 'k'),
    (error: Error) => {
      assert.ok(error instanceof SerializationError)
      assert.equal((error.cause as Error).message, 'corrupt')
      return true
    },
  )
  // Strict JSON is the default.
  assert.throws(() => textCodec(undefined).encode(new Map(), 'op', 'k'), SerializationError)
})

test('the first problem of an object is reported even when later members are fine', () => {
  assert.match(problem({ bad: new Map(), fine: 1 }), /value\.bad is a Map/)
  assert.match(problem({ deep: { bad: 1n, fine: 'x' }, after: true }), /value\.deep\.bad is a BigInt/)
})

test('an instance whose toJSON gives undefined, or throws, is rejected with what happened', () => {
  class Gone {
    toJSON() {
      return undefined
    }
  }
  class Broken {
    toJSON(): never {
      throw new Error('no JSON today')
    }
  }
  assert.match(
    problem(new Gone()),
    /^store\.set 'k': value\.toJSON\(\) is undefined, which cannot be stored as JSON$/,
  )
  assert.match(problem({ b: new Broken() }), /value\.b has a toJSON\(\) that throws \(no JSON today\)/)
})

test('a rejection carries JSON.stringify’s error as its cause when stringify threw, else none', () => {
  const thrown = (value: unknown): SerializationError => {
    try {
      encodeJson(value, 'op', 'k')
    } catch (error) {
      assert.ok(error instanceof SerializationError)
      return error
    }
    assert.fail('accepted')
  }
  assert.ok(thrown({ n: 1n }).cause instanceof TypeError)
  assert.equal('cause' in thrown(new Map()), false)
  try {
    decodeJson('{', 'op', 'k')
    assert.fail('decoded')
  } catch (error) {
    assert.ok((error as SerializationError).cause instanceof SyntaxError)
  }
})

test('assertCodec: a codec with both functions is returned; any other is ERR_INVALID_OPTION', () => {
  const codec = { encode: JSON.stringify, decode: JSON.parse }
  assert.equal(assertCodec(codec, 'codec'), codec)
  for (const bad of [{ encode: JSON.stringify }, { decode: JSON.parse }, { encode: 1, decode: JSON.parse }]) {
    assert.throws(
      () => assertCodec(bad, 'store.codec'),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.equal(error.code, 'ERR_INVALID_OPTION')
        assert.match(error.message, /^store\.codec must be an object with encode\(value\) and decode\(text\)/)
        return true
      },
    )
  }
})

test('encodeWith and decodeWith: a throwing codec becomes a SerializationError naming the call, with the cause', () => {
  const failure = new Error('codec broke')
  const codec = {
    encode: (): string => {
      throw failure
    },
    decode: (): unknown => {
      throw failure
    },
  }
  for (const [run, message] of [
    [() => encodeWith(codec, 1, 'store.set', 'k'), "store.set 'k': codec.encode failed"],
    [() => decodeWith(codec, 'x', 'store.get', 'k'), "store.get 'k': codec.decode failed"],
  ] as const) {
    assert.throws(run, (error: unknown) => {
      assert.ok(error instanceof SerializationError)
      assert.equal(error.message, message)
      assert.equal(error.cause, failure)
      return true
    })
  }
  assert.equal(decodeWith(codec, undefined, 'store.get', 'k'), undefined, 'missing: the codec is not called')
  assert.equal(decodeWith(codec, null, 'store.get', 'k'), undefined)
})

test('textCodec without a codec is strict JSON', () => {
  const json = textCodec(undefined)
  assert.equal(json.encode({ a: [1] }, 'op', 'k'), '{"a":[1]}')
  assert.deepEqual(json.decode('{"a":[1]}', 'op', 'k'), { a: [1] })
})

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** [1, <hole>, 3]: JSON would write the hole as null. */
function holey(): unknown[] {
  const array = [1]
  array[2] = 3
  return array
}

test('what a toJSON answers is checked as it is written, and it is told the key JSON gives it', () => {
  // Checked on one call and written from another, this stored {"price":null} unrefused.
  let calls = 0
  const flaky = { price: { toJSON: () => (++calls === 1 ? 1 : Number.NaN) } }
  assert.match(problem(flaky), /value\.price(\.toJSON\(\))? is NaN/)
  calls = 0
  const settling = { price: { toJSON: () => (++calls === 1 ? Number.NaN : 1) } }
  assert.equal(encodeJson(settling, 'op', 'k'), '{"price":1}')
  // A toJSON told its key, as JSON.stringify tells it.
  const keyed = { toJSON: (key: string) => (key === 'price' ? Number.NaN : 1) }
  assert.match(problem({ price: keyed }), /value\.price is NaN/)
  assert.equal(encodeJson(keyed, 'op', 'k'), '1')
  assert.equal(encodeJson([{ toJSON: (key: string) => key }], 'op', 'k'), '["0"]')
  // `return this`: the object's members, its toJSON left out as JSON leaves it.
  assert.equal(
    encodeJson(
      {
        x: 1,
        toJSON() {
          return this
        },
      },
      'op',
      'k',
    ),
    '{"x":1}',
  )
  // A Buffer (which has a toJSON) is refused wherever it is, before or after another toJSON.
  const toJSON = () => 1
  for (const value of [
    { b: Buffer.from('x'), t: { toJSON } },
    { t: { toJSON }, b: Buffer.from('x') },
    { v: { toJSON: () => ({ b: Buffer.from('x') }) } },
  ]) {
    assert.match(problem(value), /is a Buffer/)
  }
  // A -0 beside a toJSON keeps its sign.
  assert.equal(encodeJson({ a: { toJSON: () => 2 }, b: -0 }, 'op', 'k'), '{"a":2,"b":-0}')
})
