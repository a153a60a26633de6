/**
 * A signal that aborts when any of `signals` does, and a function that detaches it again.
 * (AbortSignal.any would keep a listener on the fleet's long-lived signal for every loop ever
 * started; detaching when the loop ends keeps that list short.)
 */
export function linkSignals(...signals: (AbortSignal | undefined)[]): {
  signal: AbortSignal
  unlink(): void
} {
  const controller = new AbortController()
  const sources = signals.filter((s): s is AbortSignal => s !== undefined)
  const abort = () => controller.abort()
  for (const source of sources) {
    if (source.aborted) {
      controller.abort()
      break
    }
    source.addEventListener('abort', abort, { once: true })
  }
  return {
    signal: controller.signal,
    unlink: () => {
      for (const source of sources) source.removeEventListener('abort', abort)
    },
  }
}
