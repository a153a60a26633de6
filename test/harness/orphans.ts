import type { Tracker } from '../../src/index.ts'

/**
 * Makes `id` an orphan of `worker`: started, tracking a job that runs until the returned
 * function is called, then stopped (its job stays tracked, SPEC §7).
 */
export async function orphanOf(worker: Tracker, id: string): Promise<() => void> {
  await worker.start()
  let finish = () => {}
  await new Promise<void>((running) => {
    void worker.track(id, {}, () => {
      running()
      return new Promise<void>((end) => {
        finish = end
      })
    })
  })
  await worker.stop()
  return finish
}
