/** The heartbeat timer of one `join`: what `halt` stops. */
export interface Beats {
  /** Stops the timer, starts no more beats, and settles once the beat in flight (if any) has. */
  halt(): Promise<void>
}

/**
 * Runs `beat` now and every `interval` ms until halted, never two at once: a tick while a beat is
 * in flight is skipped rather than queued. Queueing one per tick made a stalled server pile up
 * beats that each waited out their retries, and `halt` waited for all of them.
 * `beat` must not reject (the caller reports its failures). The timer does not keep the process alive.
 */
export function startBeats(beat: () => Promise<void>, interval: number): Beats {
  let inFlight: Promise<void> | undefined
  let halted = false
  const tick = () => {
    if (halted || inFlight !== undefined) return
    inFlight = beat().finally(() => {
      inFlight = undefined
    })
  }
  tick()
  const timer = setInterval(tick, interval)
  timer.unref()
  return {
    halt: async () => {
      halted = true
      clearInterval(timer)
      await inFlight
    },
  }
}
