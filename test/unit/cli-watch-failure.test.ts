import assert from 'node:assert/strict'
import { test } from 'node:test'
import { watchFailure } from '../../src/cli/status.ts'

// A reason may quote a name read from Redis, newline included: the watch printed only what came
// before it, losing the rest of the name and the cause (the CLI's own failure line keeps it all).
const error = new Error('admin.listDeadLetters "a\nb": WRONGTYPE (\x1b[2J)\n')

test('status --watch prints a failed snapshot’s whole reason on one line, controls escaped', () => {
  assert.equal(
    watchFailure(error, false),
    'redfleet status: admin.listDeadLetters "a\\nb": WRONGTYPE (\\x1b[2J)',
  )
})

test('status --watch --json keeps the whole reason in one JSON line', () => {
  const line = watchFailure(error, true)
  assert.doesNotMatch(line, /\n/)
  const parsed = JSON.parse(line) as { error: string; at: string }
  assert.equal(parsed.error, 'redfleet status: admin.listDeadLetters "a\nb": WRONGTYPE (\x1b[2J)')
  assert.ok(!Number.isNaN(Date.parse(parsed.at)))
})
