/**
 * Docs that run, on Redis: every code block of README.md and docs/*.md that is a program (see
 * docs-blocks.ts) runs with REDIS_URL set to this run's standalone server (from the harness,
 * never a fixed port), and must end by itself. docs.test.ts runs them in memory.
 */
import { describe, test } from 'node:test'
import { testServers } from '../harness/servers.ts'
import { assertRuns, runnableBlocks, scratchProject } from './docs-blocks.ts'

const runnable = runnableBlocks()
const scratch = scratchProject()

// Blocks are independent programs (separate processes, distinct keys): two at a time.
describe('every runnable block runs on standalone Redis and ends by itself', { concurrency: 2 }, () => {
  for (const block of runnable) {
    test(block.where, async () => {
      const { standalone } = await testServers()
      await assertRuns(scratch, block, 'standalone', standalone)
    })
  }
})
