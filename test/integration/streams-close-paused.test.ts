/**
 * fleet.close() while a consumer's handler never settles and Redis holds every command
 * (`CLIENT PAUSE`, as a frozen server would): past its grace, close sends the loop's last steps
 * (its acks, the entries it never started: ConsumerLoop.cutOff) but does not wait for them past
 * LAST_STEPS_LIMIT, even with no commandTimeout to end them.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { shortenCloseGrace } from '../harness/close-grace.ts'
import { pausableServer } from '../harness/pausable-server.ts'

const server = pausableServer()

/**
 * Far longer than close may take here: its grace, LAST_STEPS_LIMIT, and closing the
 * connections of a server that answers nothing (a few QUIT limits).
 */
const PAUSE = 60_000

test('close() ends while Redis holds the abandoned consumer’s last steps (commandTimeout 0)', async (t) => {
  shortenCloseGrace(t, 50)
  const fleet = server.fleet({ commandTimeout: 0 })
  const streams = fleet.streams({ onError: () => {} })
  await streams.ensureGroup('g')
  for (let n = 0; n < 4; n++) await streams.publish({ n })
  let hanging!: () => void
  const hangs = new Promise<void>((resolve) => {
    hanging = resolve
  })
  // 0 finishes (its ack waits), 1 never settles, 2 and 3 never start: close has steps to send.
  const consuming = streams.consume('g', 'c', async (d) => {
    if (d.envelope.n !== 1) return
    hanging()
    await new Promise(() => {})
  })
  await hangs
  await server.pause(PAUSE)
  let pauseOver = false
  const over = new AbortController()
  const pauseEnds = sleep(PAUSE, undefined, { signal: over.signal }).then(
    () => {
      pauseOver = true
    },
    () => {},
  )
  try {
    await fleet.close()
    assert.equal(pauseOver, false, 'close() waited for the pause to end')
    await consuming
  } finally {
    // No CLIENT UNPAUSE: it would wait out the pause too. The file's server stops at its end.
    over.abort()
    await pauseEnds
  }
})
