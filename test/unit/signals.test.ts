/**
 * linkSignals: one 'abort' listener per source signal, however many loops link to it, so an
 * application's one shutdown signal shared by many loops (and the fleet's own signal) raises no
 * MaxListenersExceededWarning; the link goes when its loop ends, leaving nothing behind.
 */
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { test } from 'node:test'
import { setImmediate as tick } from 'node:timers/promises'
import { createFleet, fleetContext } from '../../src/fleet.ts'
import { linkedTo, linkSignals } from '../../src/signals.ts'

/** The process warnings emitted while `fn` runs and one turn of the event loop after it. */
async function warningsDuring(fn: () => Promise<void>): Promise<Error[]> {
  const warnings: Error[] = []
  const onWarning = (warning: Error) => void warnings.push(warning)
  process.on('warning', onWarning)
  try {
    await fn()
    // process.emitWarning emits on the next tick.
    await tick()
  } finally {
    process.off('warning', onWarning)
  }
  return warnings
}

const abortListeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length

test('20 links to one signal: one listener, no warning; each aborts with it; unlinked, nothing is left', async () => {
  const shared = new AbortController()
  const own = Array.from({ length: 20 }, () => new AbortController())
  let links: ReturnType<typeof linkSignals>[] = []
  const warnings = await warningsDuring(async () => {
    links = own.map((controller) => linkSignals(controller.signal, shared.signal, undefined))
  })
  assert.deepEqual(warnings, [])
  assert.equal(abortListeners(shared.signal), 1)
  assert.equal(linkedTo(shared.signal), 20)
  // One loop ends on its own signal; the others stay linked to the shared one.
  own[0]!.abort()
  assert.ok(links[0]!.signal.aborted)
  links[0]!.unlink()
  assert.equal(linkedTo(shared.signal), 19)
  assert.equal(abortListeners(own[0]!.signal), 0)
  shared.abort()
  assert.ok(links.every((link) => link.signal.aborted))
  for (const link of links) link.unlink()
  assert.equal(linkedTo(shared.signal), 0)
  assert.equal(abortListeners(shared.signal), 0)
  for (const controller of own) assert.equal(abortListeners(controller.signal), 0)
})

test('loops that end without an abort drop their links; a signal aborted already links nothing', () => {
  const shared = new AbortController()
  const links = Array.from({ length: 12 }, () => linkSignals(shared.signal))
  for (const link of links) link.unlink()
  // Unlinking twice is harmless.
  links[0]!.unlink()
  assert.equal(linkedTo(shared.signal), 0)
  assert.equal(abortListeners(shared.signal), 0)
  // Linked again after all had gone: a fresh listener, which works.
  const again = linkSignals(shared.signal)
  assert.equal(abortListeners(shared.signal), 1)
  shared.abort()
  assert.ok(again.signal.aborted)
  const late = linkSignals(new AbortController().signal, shared.signal)
  assert.ok(late.signal.aborted)
  assert.equal(linkedTo(shared.signal), 0)
  late.unlink()
  again.unlink()
})

test('11 stream loops and 12 inboxes on one user signal warn nothing; once they end, no link is left', async () => {
  const fleet = createFleet({ namespace: `signals-${process.pid}` })
  const fleetSignal = fleetContext(fleet).lifecycle.signal
  // The fleet's own parts listen to its signal too (one each, for the fleet's life).
  const fleetListeners = abortListeners(fleetSignal)
  const streams = fleet.streams()
  const members = fleet.membership()
  const shutdown = new AbortController()
  const { signal } = shutdown
  let loops: Promise<unknown>[] = []
  try {
    const warnings = await warningsDuring(async () => {
      loops = [
        ...Array.from({ length: 11 }, (_, i) => streams.tail(`ch${i}`, undefined, () => {}, { signal })),
        streams.tailEvents(() => {}, { signal }),
        streams.consume('group', 'c', () => {}, { signal }),
        ...Array.from({ length: 12 }, async (_, i) => {
          for await (const _message of members.inbox(`w${i}`, { signal })) {
            // no message is sent
          }
        }),
      ]
      // Each loop links its signals when it starts: by now, every one has.
      while (linkedTo(signal) < loops.length) await tick()
    })
    assert.deepEqual(
      warnings.map((w) => `${w.name}: ${w.message}`),
      [],
    )
    assert.equal(abortListeners(signal), 1)
    assert.equal(linkedTo(fleetSignal), loops.length)
    assert.equal(abortListeners(fleetSignal), fleetListeners + 1)
  } finally {
    shutdown.abort()
    await Promise.all(loops)
  }
  assert.equal(linkedTo(signal), 0)
  assert.equal(abortListeners(signal), 0)
  assert.equal(linkedTo(fleetSignal), 0)
  assert.equal(abortListeners(fleetSignal), fleetListeners)
  await fleet.close()
})
