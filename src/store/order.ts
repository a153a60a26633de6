/**
 * Per-key call order (SPEC §2): calls from one process on one key are applied in the order they
 * were made, awaited or not. Redis runs the commands of one connection in the order they were
 * written, so a call whose command is written before it returns needs nothing more. Only a call
 * that cannot write at once (a read-modify-write, a multi-key call that must first learn where
 * its keys live, any call before the topology is built) holds its keys: a later call on one of
 * them waits until the holder has settled, and, while it waits, holds them in turn.
 *
 * The cost on the hot path is one Map size check while nothing is held.
 */
export class KeyOrder {
  /** Per key, the promise that settles when the last call holding it lets later calls go. */
  readonly #held = new Map<string, Promise<unknown>>()

  /**
   * Runs `send` now, or after the earlier calls holding one of `keys`. `hold`: this call's
   * commands may not all be written when `send` returns, so later calls wait until it settles.
   */
  run<T>(keys: string | readonly string[], send: () => Promise<T>, hold: boolean): Promise<T> {
    if (this.#held.size === 0 && !hold) return send()
    const before = this.#before(keys)
    if (before === undefined && !hold) return send()
    let result!: Promise<T>
    // Later calls go as soon as this one has written its commands, or once it settled if it holds.
    const go = () => {
      result = send()
      return hold ? result : undefined
    }
    const gate = before === undefined ? Promise.resolve(go()) : before.then(go, go)
    const release = () => {
      for (const key of typeof keys === 'string' ? [keys] : keys) {
        if (this.#held.get(key) === gate) this.#held.delete(key)
      }
    }
    gate.then(release, release)
    for (const key of typeof keys === 'string' ? [keys] : keys) this.#held.set(key, gate)
    return before === undefined
      ? result
      : gate.then(
          () => result,
          () => result,
        )
  }

  /** What a new call on `keys` must wait for, if anything. */
  #before(keys: string | readonly string[]): Promise<unknown> | undefined {
    if (typeof keys === 'string') return this.#held.get(keys)
    let waits: Promise<unknown>[] | undefined
    for (const key of keys) {
      const held = this.#held.get(key)
      if (held === undefined || waits?.includes(held)) continue
      waits ??= []
      waits.push(held)
    }
    if (waits === undefined) return undefined
    return waits.length === 1 ? waits[0] : Promise.allSettled(waits)
  }
}
