import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DETACHED, Lifecycle } from '../../src/lifecycle.ts'

/** A promise and the function that resolves it. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

test('user code that closes its own lifecycle is no longer waited for: its promise resolves DETACHED', async () => {
  const lifecycle = new Lifecycle()
  const { opened, open } = gate()
  const running = lifecycle.awaitUserCode(async () => {
    await Promise.resolve()
    await lifecycle.close()
    await opened
    return 'done'
  })
  assert.equal(await running, DETACHED)
  open()
})

test('closing before its first await detaches it too', async () => {
  const lifecycle = new Lifecycle()
  const running = lifecycle.awaitUserCode(async () => {
    const closing = lifecycle.close()
    await new Promise(() => {})
    await closing
  })
  assert.equal(await running, DETACHED)
})

test("closing another fleet's lifecycle does not detach it", async () => {
  const own = new Lifecycle()
  const other = new Lifecycle()
  const running = own.awaitUserCode(async () => {
    await other.close()
    return 'done'
  })
  assert.equal(await running, 'done')
})

test('a detached rejection goes nowhere, and results that are not promises come back as they are', async () => {
  const lifecycle = new Lifecycle()
  assert.equal(
    lifecycle.awaitUserCode(() => 7),
    7,
  )
  const { opened, open } = gate()
  const running = lifecycle.awaitUserCode(async () => {
    void lifecycle.close()
    await opened
    throw new Error('after close')
  })
  assert.equal(await running, DETACHED)
  open()
  // An unhandled rejection would fail the test run.
  await new Promise((resolve) => setImmediate(resolve))
})
