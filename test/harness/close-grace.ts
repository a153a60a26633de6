import type { TestContext } from 'node:test'
import { closeGrace } from '../../src/lifecycle.ts'

/** Makes fleet.close() wait `ms` for user code (handlers, jobs, requeues) during test `t`. */
export function shortenCloseGrace(t: TestContext, ms: number): void {
  const saved = closeGrace.ms
  closeGrace.ms = ms
  t.after(() => {
    closeGrace.ms = saved
  })
}
