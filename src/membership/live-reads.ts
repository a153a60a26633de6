/**
 * The reads of one live set made within one turn of the event loop share one command, as the
 * store's reads of one tick share one MGET: 1,000 `owner()` calls at once read a set of 5,000
 * members once, not 1,000 times (helper-318: 995 of them timed out on an idle server). Shared by
 * every membership that reaches the same data over the same connections (see of): the fleet's
 * and its views' (FleetContext.order), and other fleets' on the same injected client, or in the
 * same process memory.
 *
 * A read joins only one made in the same turn, before any of its replies can have been read, so
 * it answers with the set as it was after the call was made; and not one made before a change
 * of the set from this process (a heartbeat or a leave), so a call sees the changes made before
 * it, as one command per call would on its connection.
 */
export class LiveReads {
  static readonly #shared = new WeakMap<object, LiveReads>()

  /**
   * The one for `source`: what the fleet's calls reach the data through, when fleets may share
   * it (the process memory, an injected client), else the fleet itself. Fleets with connections
   * of their own keep no order between them, as two processes do not.
   */
  static of(source: object): LiveReads {
    let reads = LiveReads.#shared.get(source)
    if (reads === undefined) {
      reads = new LiveReads()
      LiveReads.#shared.set(source, reads)
    }
    return reads
  }

  /** Per key, the read made in this turn since the last change of it. */
  readonly #reads = new Map<string, Promise<readonly string[]>>()

  /** The members of `key`, sorted: `read()`'s answer, or the one this turn already asked for. */
  read(key: string, read: () => Promise<string[]>): Promise<readonly string[]> {
    const made = this.#reads.get(key)
    if (made !== undefined) return made
    // Frozen: every caller of the turn reads the same list (rendezvous keeps what it mixed of it).
    const reading = read().then((ids) => Object.freeze(ids.sort()))
    this.#reads.set(key, reading)
    // Before the turn reads any reply: a later call must not get an answer older than itself.
    queueMicrotask(() => this.#ended(key, reading))
    return reading
  }

  /** A change of `key` is about to be sent: a read made after it is sent after it. */
  changed(key: string): void {
    this.#reads.delete(key)
  }

  #ended(key: string, reading: Promise<readonly string[]>): void {
    if (this.#reads.get(key) === reading) this.#reads.delete(key)
  }
}
