/**
 * Docs that run, in memory: every code block of README.md and docs/*.md that is a program (see
 * docs-blocks.ts for the fragment marker) runs as a user would paste it, with tsx and no
 * REDIS_URL, and must end by itself. docs-redis.test.ts runs the same blocks on Redis.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { assertRuns, runnableBlocks, scratchProject } from './docs-blocks.ts'

const runnable = runnableBlocks()
const scratch = scratchProject()

test('the README and the guides with long-running loops have runnable blocks', () => {
  for (const file of ['README.md', 'docs/streams.md', 'docs/broker.md', 'docs/membership.md']) {
    assert.ok(
      runnable.some((b) => b.file === file),
      `${file} has no runnable block`,
    )
  }
})

// Blocks are independent programs (separate processes, distinct keys): two at a time.
describe('every runnable block runs in memory and ends by itself', { concurrency: 2 }, () => {
  for (const block of runnable) test(block.where, () => assertRuns(scratch, block, 'memory', undefined))
})
