/** The loops linked to one signal, and the one 'abort' listener that stops them all. */
interface Fanout {
  readonly linked: Set<AbortController>
  readonly onAbort: () => void
}

/**
 * One 'abort' listener per source signal, however many loops are linked to it: an application
 * commonly hands one shutdown signal to every loop it starts, and every loop links the fleet's
 * own signal too. A listener per loop made Node warn of a leak from the 11th loop on (it cannot
 * tell loops from leaked listeners), and raising the caller's limit would silence their own
 * warnings. The entry and its listener go as soon as the last loop linked to it ends.
 */
const fanouts = new WeakMap<AbortSignal, Fanout>()

function attach(source: AbortSignal, controller: AbortController): void {
  let fanout = fanouts.get(source)
  if (fanout === undefined) {
    const linked = new Set<AbortController>()
    const onAbort = () => {
      fanouts.delete(source)
      // A copy: aborting a loop may end it, and its unlink deletes from the set.
      for (const each of [...linked]) each.abort()
      linked.clear()
    }
    fanout = { linked, onAbort }
    fanouts.set(source, fanout)
    source.addEventListener('abort', onAbort, { once: true })
  }
  fanout.linked.add(controller)
}

function detach(source: AbortSignal, controller: AbortController): void {
  const fanout = fanouts.get(source)
  if (fanout === undefined || !fanout.linked.delete(controller) || fanout.linked.size > 0) return
  fanouts.delete(source)
  source.removeEventListener('abort', fanout.onAbort)
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
  for (const source of sources) attach(source, controller)
  return {
    signal: controller.signal,
    unlink: () => {
      for (const source of sources) detach(source, controller)
    },
  }
}

/** How many loops are linked to `source` now (for tests: none once they have all ended). */
export function linkedTo(source: AbortSignal): number {
  return fanouts.get(source)?.linked.size ?? 0
}
