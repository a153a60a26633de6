/**
 * KeyOrder's `overtaken` (src/store/order.ts): a call that let later calls on its keys go before
 * it settled is overtaken by a later call that writes one of them, and then not sent again
 * (its retry would write its older values over that call's); a later read does not overtake it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KeyOrder } from '../../src/store/order.ts'
import { deferred } from '../harness/deferred.ts'

/**
 * A held call on `keys` (a read with `reads`) that writes at once (or when `write` is called,
 * with `later`) and settles when told; what it was told of overtaking.
 */
function heldCall(order: KeyOrder, keys: string[], { reads = false, later = false } = {}) {
  const settle = deferred()
  let overtaken: () => boolean = () => false
  let write = () => {}
  const call = order.run(
    keys,
    (written, isOvertaken) => {
      overtaken = isOvertaken
      write = written
      if (!later) written()
      return settle.promise
    },
    true,
    false,
    reads,
  )
  return { call, settle, overtaken: () => overtaken(), write: () => write() }
}

test('a later write of one of its keys overtakes a held call; a later read, or another key, does not', async () => {
  const order = new KeyOrder()
  const many = heldCall(order, ['a', 'b'])
  await Promise.resolve()
  await order.run('c', async () => undefined, false)
  await order.run(['a'], async () => undefined, false, false, true)
  assert.equal(many.overtaken(), false, 'a read of a, a write of c')
  await order.run('b', async () => undefined, false)
  assert.equal(many.overtaken(), true, 'a write of b')
  many.settle.resolve()
  await many.call
})

test('an earlier call is not overtaken by a later one made after it settled', async () => {
  const order = new KeyOrder()
  const first = heldCall(order, ['a'])
  first.settle.resolve()
  await first.call
  await order.run('a', async () => undefined, false)
  assert.equal(first.overtaken(), false)
})

test('a later held call overtakes an earlier one on a shared key', async () => {
  const order = new KeyOrder()
  const first = heldCall(order, ['a', 'b'])
  const second = heldCall(order, ['b', 'c'])
  // Made after the first: overtaking it from then on, while it waits for the first to be written.
  assert.equal(first.overtaken(), true)
  await Promise.resolve()
  await Promise.resolve()
  assert.equal(second.overtaken(), false)
  first.settle.resolve()
  second.settle.resolve()
  await Promise.all([first.call, second.call])
})

test('a held read (getMany) is never overtaken: its retry changes nothing a later call wrote', async () => {
  const order = new KeyOrder()
  const read = heldCall(order, ['a'], { reads: true })
  await order.run('a', async () => undefined, false)
  assert.equal(read.overtaken(), false)
  read.settle.resolve()
  await read.call
})

test('a later write that waits for a call not yet written does not overtake it until it is', async () => {
  const order = new KeyOrder()
  const first = heldCall(order, ['a'], { later: true })
  const second = order.run('a', async () => undefined, false)
  assert.equal(first.overtaken(), false, 'the later write waits for it: a retry now keeps the order')
  first.write()
  assert.equal(first.overtaken(), true, 'written: the later write goes')
  await second
  first.settle.resolve()
  await first.call
})
