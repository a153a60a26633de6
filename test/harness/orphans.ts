import type { Tracker } from '../../src/index.ts'
import { deferred } from './deferred.ts'

/**
 * Makes `id` an orphan of `worker`: started, tracking a job that runs until the returned
 * function is called, then stopped (its job stays tracked, SPEC §7).
 */
export async function orphanOf(worker: Tracker, id: string): Promise<() => void> {
  await worker.start()
  const running = deferred()
  const finish = deferred()
  void worker.track(id, {}, () => {
    running.resolve()
    return finish.promise
  })
  await running.promise
  await worker.stop()
  return finish.resolve
}
