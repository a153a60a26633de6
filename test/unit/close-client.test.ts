/** Closing a connection redfleet owns never hangs: a QUIT with no answer ends in a hard disconnect. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { closeClient } from '../../src/topology/connection.ts'

function connection(quit: () => Promise<unknown>, status = 'ready') {
  const calls: string[] = []
  return {
    calls,
    client: {
      status,
      quit: () => {
        calls.push('quit')
        return quit()
      },
      disconnect: () => void calls.push('disconnect'),
    },
  }
}

test('a ready connection is closed by QUIT', async () => {
  const { client, calls } = connection(async () => 'OK')
  await closeClient(client)
  assert.deepEqual(calls, ['quit'])
})

test('a QUIT that fails, or gets no answer (a paused server), ends in a hard disconnect', async () => {
  const failing = connection(async () => {
    throw new Error('Connection is closed.')
  })
  await closeClient(failing.client)
  assert.deepEqual(failing.calls, ['quit', 'disconnect'])
  const unanswered = connection(() => new Promise(() => {}))
  await closeClient(unanswered.client)
  assert.deepEqual(unanswered.calls, ['quit', 'disconnect'])
})

test('a connection that is not up is disconnected at once', async () => {
  const { client, calls } = connection(async () => 'OK', 'reconnecting')
  await closeClient(client)
  assert.deepEqual(calls, ['disconnect'])
})

test('a disconnect that ends later (a node-redis client destroyed once its attempt ends) is waited for', async () => {
  let end!: () => void
  const ended = new Promise<void>((resolve) => (end = resolve))
  let closed = false
  const closing = closeClient({ status: 'connecting', quit: async () => 'OK', disconnect: () => ended }).then(
    () => {
      closed = true
    },
  )
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(closed, false, 'close waits for the disconnect')
  end()
  await closing
  assert.equal(closed, true)
})
