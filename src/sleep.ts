import { onAbort } from './signals.ts'

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
      stopListening()
      resolve()
    }
    const timer = setTimeout(done, ms)
    // One listener on a signal many sleeps share (signals.ts: onAbort).
    const stopListening = onAbort(signal, done)
  })
}
