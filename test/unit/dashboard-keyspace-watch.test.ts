import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KeyspaceWatch } from '../../src/dashboard/keyspace.ts'
import type { NamespaceKeys } from '../../src/inspect.ts'

const walkOf = (streams: string[], skipped: unknown[] = []): NamespaceKeys => ({
  keys: {},
  streams,
  truncated: false,
  at: 0,
  skipped,
})

test('KeyspaceWatch: a walk that left a node out keeps the last walk’s streams; a whole walk stands as it is', async (t) => {
  const answers: ((walk: NamespaceKeys) => void)[] = []
  let called: () => void = () => undefined
  const nextWalk = () =>
    new Promise<void>((resolve) => {
      called = resolve
    })
  const watch = new KeyspaceWatch(
    () =>
      new Promise<NamespaceKeys>((resolve) => {
        answers.push(resolve)
        called()
      }),
    0,
    0,
  )
  const answer = async (walk: NamespaceKeys) => {
    const next = nextWalk()
    answers.at(-1)!(walk)
    await next
  }
  // The watch's timers are unref'd (a dashboard's walks never keep a process alive): this test's is not.
  const alive = setInterval(() => undefined, 60_000)
  t.after(() => clearInterval(alive))
  const first = nextWalk()
  watch.start()
  await first
  await answer(walkOf(['rf:streams:channel:a', 'rf:streams:channel:orders', 'rf:streams:events']))
  // The node holding `orders` is down: the walk did not see it.
  await answer(walkOf(['rf:streams:channel:a', 'rf:streams:events'], [new Error('node down')]))
  assert.deepEqual(watch.latest()!.streams, [
    'rf:streams:channel:a',
    'rf:streams:channel:orders',
    'rf:streams:events',
  ])
  assert.equal(watch.latest()!.skipped.length, 1)
  // The rates are read from what the walk found: `orders`, on the node that is down, would fail them all.
  assert.deepEqual(watch.found(), ['rf:streams:channel:a', 'rf:streams:events'])
  // Still down; `b` made and gone meanwhile: kept from the last whole walk only, nothing piles up.
  await answer(walkOf(['rf:streams:channel:b', 'rf:streams:events'], [new Error('node down')]))
  await answer(walkOf(['rf:streams:channel:c', 'rf:streams:events'], [new Error('node down')]))
  assert.deepEqual(watch.latest()!.streams, [
    'rf:streams:channel:a',
    'rf:streams:channel:c',
    'rf:streams:channel:orders',
    'rf:streams:events',
  ])
  // Every node walked again: `orders` was deleted meanwhile.
  await answer(walkOf(['rf:streams:channel:a', 'rf:streams:events']))
  assert.deepEqual(watch.latest()!.streams, ['rf:streams:channel:a', 'rf:streams:events'])
  const stopping = watch.stop()
  answers.at(-1)!(walkOf([]))
  await stopping
})
