/**
 * The listeners of a cluster topology's layout changes (RedisTopology.onLayoutChange), held here
 * rather than on the client: every near cache of a fleet listens, and a client's emitter warns
 * past ten listeners of one event.
 */
export class LayoutListeners {
  readonly #listeners = new Set<() => void>()

  /** Adds `listener`; returns a function that removes it. */
  add(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /** Calls every listener. */
  readonly notify = (): void => {
    for (const listener of [...this.#listeners]) {
      try {
        listener()
      } catch {
        // A listener's failure is its own: the others still hear, and no caller is failed by it.
      }
    }
  }
}
