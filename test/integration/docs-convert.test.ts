/**
 * docs/store.md's Convert SDK example is a fragment (it uses the application's `fleet`, `data`
 * and `app`), so docs.test.ts does not run it. Here it runs as written, in memory, with those
 * names given: the real SDK, imported the way the block imports it, serving one request.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { assertRuns, codeBlocks, root, scratchProject } from './docs-blocks.ts'

/** What the block takes from the application around it. */
const PRELUDE = `
import { EventEmitter } from 'node:events'
import { createFleet } from 'redfleet'

const fleet = createFleet({ namespace: 'docs-convert' })
const [accountId, projectId] = ['100', '200']
const data = {
  account_id: accountId,
  project: { id: projectId },
  experiences: [],
  goals: [{ id: '3001', key: 'goal-a', name: 'Goal A' }],
}
const served: Promise<void>[] = []
const app = {
  use(handler: (req: { visitorId: string }, res: EventEmitter, next: () => void) => Promise<void>) {
    const res = new EventEmitter()
    served.push(handler({ visitorId: 'v1' }, res, () => res.emit('finish')))
  },
}
`

const EPILOGUE = `
await Promise.all(served)
if (!(sdk instanceof ConvertSDK)) throw new Error('no SDK')
await fleet.close()
process.exit(0) // the SDK's own timers are not the example's business
`

test('docs/store.md: the Convert SDK example runs as written', async () => {
  const file = 'docs/store.md'
  const block = codeBlocks(file, readFileSync(join(root, file), 'utf8')).find((b) =>
    b.code.includes("from '@convertcom/js-sdk'"),
  )
  if (!block) throw new Error(`${file} has no block importing @convertcom/js-sdk`)
  const code = `${PRELUDE}\n${block.code}\n${EPILOGUE}`
  await assertRuns(scratchProject(), { ...block, code, fragment: false }, 'memory', undefined)
})
