import { writtenSignal } from '../written.ts'

/**
 * Per-key call order in one process (SPEC §2): a call on a key starts only after every earlier
 * call of this cache on that key that may still be on its way. Most calls send their command at
 * once, synchronously, and need nothing; the ones that cannot (a multi-key call waits for the
 * topology to group its keys per node, a tagged write reads tag versions first) are tracked
 * here until they settle, and a later call on one of their keys waits for them. Each call asks
 * what to wait for when it is made, never later: two calls that each waited for the other would
 * never start.
 *
 * Reads and changes are tracked apart: a change waits for earlier reads and changes of its keys
 * (so a read never sees a change made after it), a read waits only for earlier changes (reads
 * never hold each other up, nor a near-cache hit). Tag versions are keys too: a tagged write
 * reads its tags' versions, `invalidateTag` changes one.
 *
 * Some calls concern keys a later call cannot name: `clear`/`deleteMatched` change every key, and
 * a read learns its entry's tags (whose versions `invalidateTag` changes) only from its reply.
 * Those wait for every earlier call they may concern, and every later call waits for them (a
 * barrier): always for a change of every key, and for an invalidation that had to wait. One
 * CallOrder serves every cache object of a fleet.
 *
 * A fetch's fill is the one write made long after its call (it computes first): instead of
 * holding its key for the whole compute, it watches the key, and a change made after the fetch
 * was called makes it skip its store (`watch`). The later change wins, as its order says.
 */
export class CallOrder {
  /** Per key, the latest change on its way (each one waited for the ones before it). */
  readonly #changes = new Map<string, Promise<void>>()
  /** Per key, the reads on their way: a count, not a chain (reads do not wait for each other). */
  readonly #reads = new Map<string, ReadsOnTheirWay>()
  /** Per key, the fetches whose fill a later change of the key makes stale. */
  readonly #watches = new Map<string, Set<ChangeWatch>>()
  /** Per tag version, the fetches whose fill (of every key) stamps it: an invalidation makes it stale. */
  readonly #tagWatches = new Map<string, Set<ChangeWatch>>()
  /**
   * Per key, the multi-key changes (changeMany) not settled yet: any later write of the key, a
   * fill's too, overtakes them, and sent again they would undo it.
   */
  readonly #overtakable = new Map<string, Set<ChangeWatch>>()
  /**
   * The latest call every call made after it waits for: a change of every key (changeAll), or an
   * invalidation held back by earlier reads (invalidationAfter).
   */
  #barrier: Promise<void> | undefined
  /**
   * Reads of any key on their way. A read learns an entry's tags only from its reply, and then
   * checks their versions: `invalidateTag` waits for the reads made before it (beforeInvalidation).
   */
  #anyReads = new ReadsOnTheirWay()

  /** Counts a read from its call until `end()` is called on what this returns, once. */
  readStarted(): { end(): unknown } {
    const reads = this.#anyReads
    reads.count++
    return reads
  }

  /**
   * Counts `call` as a read from now until it settles; returns `call`. An unlessExist write that
   * finds an entry reads its tags' versions, as a read does (Writer): an invalidation made after
   * the write waits for it, else the write would take the entry for invalidated and replace it.
   */
  trackTagRead<T>(call: Promise<T>): Promise<T> {
    const reading = this.readStarted()
    const end = () => reading.end()
    call.then(end, end)
    return call
  }

  /**
   * What an invalidation of a tag must wait for: the reads made before it, and only those (a
   * read made later sees the invalidation, as its order says).
   */
  beforeInvalidation(): Promise<void> | undefined {
    const reads = this.#anyReads
    if (reads.count === 0) return undefined
    this.#anyReads = new ReadsOnTheirWay()
    return reads.settled()
  }

  /** What a read of `key` must wait for, if anything (nothing tracked: two checks). */
  beforeRead(key: string): Promise<unknown> | undefined {
    const change = this.#changes.size === 0 ? undefined : this.#changes.get(key)
    return this.#barrier === undefined ? change : both(change, this.#barrier)
  }

  /**
   * Runs `load`, a read of `key` that had to wait for `before` (what beforeRead said), counted as
   * a read of `key` on its way from now until it settles: a change made after it (a later
   * fetch's fill too) waits for it, else it could overtake the read while the read waits.
   */
  readAfter<T>(key: string, before: Promise<unknown>, load: () => Promise<T>): Promise<T> {
    return this.trackRead([key], before.then(load))
  }

  /**
   * What a change of `key` must wait for, if anything. To be called when the change is made:
   * it also tells fetches filling `key` that a later change was made.
   */
  beforeChange(key: string): Promise<unknown> | undefined {
    if (this.#watching()) this.#supersede(key)
    const change = this.beforeRead(key)
    const read = this.#readsBefore(key)
    if (read === undefined) return change
    return change === undefined ? read : Promise.all([change, read])
  }

  /** What a call that reads `reading` and changes `changing` must wait for; see beforeChange. */
  before(reading: readonly string[], changing: readonly string[]): Promise<unknown> | undefined {
    if (this.#watching()) for (const key of changing) this.#supersede(key)
    return this.#waits(reading, changing)
  }

  /**
   * What the store of a fetch's fill of `keys` must wait for: calls made before the fetch and
   * still on their way (a later one made the fill stale: it is not stored). Fills do not make
   * each other stale.
   */
  beforeFill(keys: readonly string[]): Promise<unknown> | undefined {
    // A fill is a write all the same: a multi-key change made before it is not sent again.
    if (this.#overtakable.size !== 0) for (const key of keys) supersedeIn(this.#overtakable, key)
    return this.#waits(NONE, keys)
  }

  #waits(reading: readonly string[], changing: readonly string[]): Promise<unknown> | undefined {
    if (this.#changes.size === 0 && this.#reads.size === 0) return this.#barrier
    const waits: Promise<unknown>[] = []
    addWait(waits, this.#barrier)
    for (const key of reading) addWait(waits, this.#changes.get(key))
    for (const key of changing) {
      addWait(waits, this.#changes.get(key))
      addWait(waits, this.#readsBefore(key))
    }
    return waits.length === 0 ? undefined : waits.length === 1 ? waits[0] : Promise.all(waits)
  }

  /**
   * Runs the change `work` of `keys`: at once when `before` (what beforeChange or before said to
   * wait for) is nothing, as it then goes out before any later call; else after it, tracked.
   */
  changeAfter<T>(
    keys: readonly string[],
    before: Promise<unknown> | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    return before === undefined ? work() : this.trackChange(keys, before.then(work))
  }

  /**
   * Tracks `call` as the latest change of `keys` until it settles, or until `wrote` resolves
   * (its commands are on their connections: Redis runs one connection's commands in order, and
   * a change that waited for the answers of one frozen node's multi-key changes would wait for
   * each one's timeouts in turn); returns `call`.
   */
  trackChange<T>(keys: readonly string[], call: Promise<T>, wrote?: Promise<void>): Promise<T> {
    const settled = wrote === undefined ? settledOf(call) : Promise.race([settledOf(call), wrote])
    for (const key of keys) this.#changes.set(key, settled)
    void settled.then(() => forget(this.#changes, keys, settled))
    return call
  }

  /**
   * Runs `work`, a change of `keys` whose commands are not written at once (a multi-key call
   * groups them per node first), tracked as trackChange says until it calls `written` or
   * settles. `overtaken` says whether a later change or fill of one of `keys` was made once it
   * was written: sent again after it, it would undo it, so its retries stop.
   */
  changeMany<T>(
    keys: readonly string[],
    work: (written: () => void, overtaken: () => boolean) => Promise<T>,
  ): Promise<T> {
    const { written, wrote, hasWritten } = writtenSignal()
    const later = new ChangeWatch()
    for (const key of keys) addWatch(this.#overtakable, key, later)
    const call = this.trackChange(
      keys,
      work(written, () => hasWritten() && later.supersededAny()),
      wrote,
    )
    const forget = () => {
      for (const key of keys) removeWatch(this.#overtakable, key, later)
    }
    call.then(forget, forget)
    return call
  }

  /**
   * Tracks `call` as one more read of `keys` until it settles; returns `call`. A count per key:
   * at a few hundred concurrent multi-key reads of the same keys, a promise per key per read
   * cost more than the reads.
   */
  trackRead<T>(keys: readonly string[], call: Promise<T>): Promise<T> {
    const reads = this.#reads
    const counted = keys.map((key) => {
      let onTheirWay = reads.get(key)
      if (onTheirWay === undefined) {
        onTheirWay = new ReadsOnTheirWay()
        reads.set(key, onTheirWay)
      }
      onTheirWay.count++
      return onTheirWay
    })
    const done = () => {
      counted.forEach((onTheirWay, i) => {
        if (onTheirWay.end() && reads.get(keys[i]!) === onTheirWay) reads.delete(keys[i]!)
      })
    }
    call.then(done, done)
    return call
  }

  /**
   * What a change of `key` waits for: the reads on their way now, and only those. They are set
   * apart, so a read made later (which waits for this change) is counted anew and cannot hold
   * the change up in its turn.
   */
  #readsBefore(key: string): Promise<void> | undefined {
    if (this.#reads.size === 0) return undefined
    const onTheirWay = this.#reads.get(key)
    if (onTheirWay === undefined) return undefined
    this.#reads.delete(key)
    return onTheirWay.settled()
  }

  /**
   * Starts watching `keys` for changes made from now on, until `unwatch`; and the versions of the
   * tags its fills will stamp (`tags`): an invalidation made from now on makes them all stale, as
   * it would have made stale what they store, had they been stored in their call's order.
   */
  watch(keys: readonly string[], tags: readonly string[] = NONE): ChangeWatch {
    const watch = new ChangeWatch()
    for (const key of keys) addWatch(this.#watches, key, watch)
    for (const tag of tags) addWatch(this.#tagWatches, tag, watch)
    return watch
  }

  unwatch(keys: readonly string[], watch: ChangeWatch, tags: readonly string[] = NONE): void {
    for (const key of keys) removeWatch(this.#watches, key, watch)
    for (const tag of tags) removeWatch(this.#tagWatches, tag, watch)
  }

  #watching(): boolean {
    return this.#watches.size !== 0 || this.#tagWatches.size !== 0 || this.#overtakable.size !== 0
  }

  /**
   * Runs `work`, a change of every key (clear, deleteMatched), once every call made before it has
   * settled (its SCAN would miss a write still on its way, and delete a key a read has yet to
   * see); every call made after it waits for it (else the SCAN may find, and delete, what a later
   * write stored). Every fill under way is stale.
   */
  changeAll<T>(work: () => Promise<T>): Promise<T> {
    for (const watches of [...this.#watches.values(), ...this.#overtakable.values()]) {
      for (const watch of watches) watch.supersedeAll()
    }
    const waits = new Set<Promise<unknown>>(this.#changes.values())
    for (const reads of this.#reads.values()) waits.add(reads.settled())
    this.#reads.clear()
    const reads = this.beforeInvalidation()
    if (reads !== undefined) waits.add(reads)
    if (this.#barrier !== undefined) waits.add(this.#barrier)
    return this.#bar(waits.size === 0 ? work() : Promise.all(waits).then(work))
  }

  /**
   * Runs `work`, the invalidation of the tag whose version is `key`: at once when `before`
   * (beforeChange and beforeInvalidation) is nothing; else after it, tracked, and every call made
   * meanwhile waits for it, since a read learns its entry's tags only from its reply.
   */
  invalidationAfter<T>(
    key: string,
    before: Promise<unknown> | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    return before === undefined ? work() : this.#bar(this.trackChange([key], before.then(work)))
  }

  /** Makes every call made from now on wait for `call` to settle (#barrier); returns `call`. */
  #bar<T>(call: Promise<T>): Promise<T> {
    const settled = settledOf(call)
    this.#barrier = settled
    void settled.then(() => {
      if (this.#barrier === settled) this.#barrier = undefined
    })
    return call
  }

  #supersede(key: string): void {
    supersedeIn(this.#watches, key)
    supersedeIn(this.#overtakable, key)
    const stamping = this.#tagWatches.get(key)
    if (stamping !== undefined) for (const watch of stamping) watch.supersedeAll()
  }
}

/** What a fetch learns of changes of its keys made after it was called. */
export class ChangeWatch {
  #changed: Set<string> | 'all' | undefined

  /** True if a change of `key` was made since the watch began: a fill of it must not be stored. */
  superseded(key: string): boolean {
    return this.#changed === 'all' || this.#changed?.has(key) === true
  }

  supersede(key: string): void {
    if (this.#changed === 'all') return
    this.#changed ??= new Set()
    this.#changed.add(key)
  }

  supersedeAll(): void {
    this.#changed = 'all'
  }

  /** True if a change of any of its keys was made since the watch began. */
  supersededAny(): boolean {
    return this.#changed !== undefined
  }
}

/** The reads of one key on their way, and what a change of the key waits for, made when asked. */
class ReadsOnTheirWay {
  count = 0
  #settled: { promise: Promise<void>; resolve: () => void } | undefined

  /** Settles when every read counted has ended. */
  settled(): Promise<void> {
    if (this.#settled === undefined) {
      let resolve!: () => void
      const promise = new Promise<void>((r) => {
        resolve = r
      })
      this.#settled = { promise, resolve }
    }
    return this.#settled.promise
  }

  /** One read ended; true when it was the last (the entry can go). */
  end(): boolean {
    if (--this.count > 0) return false
    this.#settled?.resolve()
    return true
  }
}

/** No keys: a call that reads none, or changes none (see CallOrder.before). */
export const NONE: readonly string[] = []

/** `call` settled either way: a later call waits for an earlier one to end, not to succeed. */
function settledOf(call: Promise<unknown>): Promise<void> {
  return call.then(
    () => {},
    () => {},
  )
}

function forget(map: Map<string, Promise<void>>, keys: readonly string[], entry: Promise<void>): void {
  for (const key of keys) if (map.get(key) === entry) map.delete(key)
}

/** What to wait for when both may be something. */
export function both(
  a: Promise<unknown> | undefined,
  b: Promise<unknown> | undefined,
): Promise<unknown> | undefined {
  return a === undefined ? b : b === undefined ? a : Promise.all([a, b])
}

function addWatch(map: Map<string, Set<ChangeWatch>>, key: string, watch: ChangeWatch): void {
  const watches = map.get(key)
  if (watches === undefined) map.set(key, new Set([watch]))
  else watches.add(watch)
}

function removeWatch(map: Map<string, Set<ChangeWatch>>, key: string, watch: ChangeWatch): void {
  const watches = map.get(key)
  if (watches?.delete(watch) && watches.size === 0) map.delete(key)
}

/** Tells the watches of `key` in `map` that a change of it was made. */
function supersedeIn(map: Map<string, Set<ChangeWatch>>, key: string): void {
  const watches = map.get(key)
  if (watches !== undefined) for (const watch of watches) watch.supersede(key)
}

function addWait(waits: Promise<unknown>[], wait: Promise<unknown> | undefined): void {
  if (wait !== undefined && !waits.includes(wait)) waits.push(wait)
}
