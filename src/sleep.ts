/**
 * Waits `ms`, or less when `signal` aborts: the one abortable sleep of the library. It never
 * rejects, so a loop that sleeps between attempts simply finds its signal aborted afterwards;
 * a caller that must fail on abort follows it with `signal.throwIfAborted()`.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
