import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { test } from 'node:test'
import { fleetContext } from '../../src/fleet.ts'
import { createFleet } from '../../src/index.ts'
import { linkSignals, onAbort } from '../../src/signals.ts'
import { sleep } from '../../src/sleep.ts'

/**
 * Node's EventTarget walks an AbortSignal's listeners on every add and remove: 20,000 fetches
 * waiting at once, each with a listener of the fleet's signal, spent seconds there and timed
 * every command out (helper-319). However many wait, the fleet's signal has one listener.
 */
test("1,000 fetches waiting on one fill, and 1,000 fills of their own: one listener of the fleet's signal", async () => {
  const fleet = createFleet({ memory: true, namespace: 'abort-listeners' })
  const { signal } = fleetContext(fleet).lifecycle
  const cache = fleet.cache()
  let release!: () => void
  const computed = new Promise<void>((resolve) => {
    release = resolve
  })
  const compute = async () => {
    await computed
    return 1
  }
  try {
    const before = getEventListeners(signal, 'abort').length
    const fetches = [
      ...Array.from({ length: 1000 }, () => cache.fetch('same', compute)),
      ...Array.from({ length: 1000 }, (_, i) => cache.fetch(`own${i}`, compute)),
    ]
    await sleep(0, new AbortController().signal)
    assert.ok(getEventListeners(signal, 'abort').length <= before + 1, 'one listener for them all')
    release()
    assert.deepEqual(new Set(await Promise.all(fetches)), new Set([1]))
    assert.equal(getEventListeners(signal, 'abort').length, before, 'none left behind')
  } finally {
    release()
    await fleet.close()
  }
})

test('onAbort: each listener once at abort, a removed one never, and the signal keeps one listener', () => {
  const controller = new AbortController()
  const called: string[] = []
  const removeA = onAbort(controller.signal, () => called.push('a'))
  onAbort(controller.signal, () => called.push('b'))
  const link = linkSignals(controller.signal)
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1)
  removeA()
  controller.abort()
  assert.deepEqual(called, ['b'])
  assert.ok(link.signal.aborted)
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
})
