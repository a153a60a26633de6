/**
 * timeCommands on an ioredis 5 connection, whose commands mark only a resolve (isResolved): an
 * error reply counts as an answer, and a command sent again with a new promise (ioredis 5's
 * cluster pipeline after MOVED) is timed again rather than taken for settled (helper-195).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
// ioredis 5's Command (the dev copy, as CI's REDFLEET_TEST_IOREDIS=ioredis5 run loads it).
import { Command } from 'ioredis5'
import { timeCommands } from '../../src/topology/connection.ts'

/** A connection that takes every command and never answers. */
function silentConnection(): Redis {
  return { options: { host: '127.0.0.1', port: 1 }, status: 'ready', sendCommand() {} } as unknown as Redis
}

test('ioredis 5: a command refused, then sent again with a new promise, still times out', async () => {
  const connection = silentConnection()
  timeCommands(connection, 50)
  const command = new Command('get', ['k'])
  // Through the patched sendCommand, as ioredis sends it (typed for ioredis 6: called loosely).
  const send = (connection as unknown as { sendCommand(command: unknown): void }).sendCommand
  send.call(connection, command)
  command.reject(new Error('MOVED 1 127.0.0.1:2'))
  await command.promise.catch(() => undefined)
  ;(command as unknown as { initPromise(): void }).initPromise()
  send.call(connection, command)
  const outcome = await Promise.race([
    command.promise.then(
      () => 'resolved',
      (e: Error) => e.message,
    ),
    sleep(1000, 'still pending'),
  ])
  assert.match(String(outcome), /^Command timed out: no reply from 127\.0\.0\.1:1 within 50 ms/)
})
