/** The listeners of one signal added through onAbort, and the one 'abort' listener that calls them. */
interface Fanout {
  readonly listeners: Set<() => void>
  readonly fire: () => void
}

/**
 * One 'abort' listener per source signal, however many are added through onAbort: an application
 * commonly hands one shutdown signal to every loop it starts, and every loop, wait and fill links
 * the fleet's own signal too. A listener each made Node warn of a leak from the 11th on (it
 * cannot tell them from leaked listeners), and Node's EventTarget walks its listeners on every
 * add and remove: 20,000 fills at once on the fleet's signal spent seconds there (helper-319).
 * The entry and its listener go as soon as the last listener is removed.
 */
const fanouts = new WeakMap<AbortSignal, Fanout>()

/**
 * Calls `listener` once when `source` aborts, and returns the function that removes it. Each
 * call is one listener: pass a function of its own (the same function added twice is one).
 */
export function onAbort(source: AbortSignal, listener: () => void): () => void {
  let fanout = fanouts.get(source)
  if (fanout === undefined) {
    const listeners = new Set<() => void>()
    const fire = () => {
      fanouts.delete(source)
      // A copy: a listener may remove others (or itself) as it runs.
      for (const each of [...listeners]) each()
      listeners.clear()
    }
    fanout = { listeners, fire }
    fanouts.set(source, fanout)
    source.addEventListener('abort', fire, { once: true })
  }
  fanout.listeners.add(listener)
  return () => {
    const current = fanouts.get(source)
    if (current === undefined || !current.listeners.delete(listener) || current.listeners.size > 0) return
    fanouts.delete(source)
    source.removeEventListener('abort', current.fire)
  }
}

/**
 * A signal that aborts when any of `signals` does, and a function that detaches it again.
 * (AbortSignal.any would keep a listener on the fleet's long-lived signal for every loop ever
 * started; detaching when the loop ends keeps nothing of it behind.)
 */
export function linkSignals(...signals: (AbortSignal | undefined)[]): {
  signal: AbortSignal
  unlink(): void
} {
  const controller = new AbortController()
  const sources = signals.filter((s): s is AbortSignal => s !== undefined)
  if (sources.some((source) => source.aborted)) {
    controller.abort()
    return { signal: controller.signal, unlink: () => {} }
  }
  const abort = () => controller.abort()
  const removers = sources.map((source) => onAbort(source, abort))
  return {
    signal: controller.signal,
    unlink: () => {
      for (const remove of removers) remove()
    },
  }
}

/** How many listeners `source` has through onAbort now (for tests: none once they have all ended). */
export function linkedTo(source: AbortSignal): number {
  return fanouts.get(source)?.listeners.size ?? 0
}
