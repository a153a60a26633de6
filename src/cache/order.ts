/**
 * Per-key call order in one process (SPEC §2): a call on a key starts only after every earlier
 * call of this cache on that key that may still be on its way. Most calls send their command at
 * once, synchronously, and need nothing; the ones that cannot (a multi-key call waits for the
 * topology to group its keys per node, a tagged write reads tag versions first) are tracked here
 * until they settle, and a later call on one of their keys waits for them.
 */
export class CallOrder {
  readonly #inFlight = new Map<string, Promise<void>>()

  /** What a call on `key` must wait for, if anything (nothing tracked: one size check). */
  pending(key: string): Promise<void> | undefined {
    return this.#inFlight.size === 0 ? undefined : this.#inFlight.get(key)
  }

  /** What a call on `keys` must wait for, if anything. */
  pendingAny(keys: readonly string[]): Promise<unknown> | undefined {
    if (this.#inFlight.size === 0) return undefined
    const waits: Promise<void>[] = []
    for (const key of keys) {
      const wait = this.#inFlight.get(key)
      if (wait !== undefined && !waits.includes(wait)) waits.push(wait)
    }
    return waits.length === 0 ? undefined : waits.length === 1 ? waits[0] : Promise.all(waits)
  }

  /** Tracks `call` as the latest call on `keys` until it settles; returns `call`. */
  track<T>(keys: readonly string[], call: Promise<T>): Promise<T> {
    // Settled either way: a later call waits for the earlier one to end, not to succeed.
    const settled = call.then(
      () => {},
      () => {},
    )
    for (const key of keys) this.#inFlight.set(key, settled)
    void settled.then(() => {
      for (const key of keys) if (this.#inFlight.get(key) === settled) this.#inFlight.delete(key)
    })
    return call
  }
}
