import { compareIds, START_ID } from './ids.ts'

/** One entry as the memory stream keeps it. */
export interface MemoryEntry {
  readonly id: string
  readonly ms: number
  readonly seq: number
  readonly fields: string[]
}

/** A pending entry of a group: who holds it, since when, and how often it was delivered. */
export interface PendingInfo {
  consumer: string
  deliveredAt: number
  deliveries: number
}

export interface MemoryGroup {
  lastDelivered: string
  /**
   * The pending entries list, in id order: new deliveries always have ids above every pending
   * one (they come from '>'), and claims change owners, not ids, so a Map keeps the order.
   */
  readonly pending: Map<string, PendingInfo>
}

/**
 * A Redis stream in process memory: ids `ms-seq` strictly increasing even when the clock goes
 * back, and consumer groups with pending lists.
 */
export class MemoryStream {
  /** Entries live in `#entries[#head..]`; trimming advances `#head` and compacts now and then. */
  #entries: MemoryEntry[] = []
  #head = 0
  #lastMs = 0
  #lastSeq = 0
  readonly groups = new Map<string, MemoryGroup>()

  get length(): number {
    return this.#entries.length - this.#head
  }

  append(fields: string[], maxLen: number): string {
    const now = Date.now()
    if (now > this.#lastMs) {
      this.#lastMs = now
      this.#lastSeq = 0
    } else {
      this.#lastSeq++
    }
    const id = `${this.#lastMs}-${this.#lastSeq}`
    this.#entries.push({ id, ms: this.#lastMs, seq: this.#lastSeq, fields })
    this.#trim(maxLen)
    return id
  }

  #trim(maxLen: number): void {
    if (this.length <= maxLen) return
    this.#head = this.#entries.length - maxLen
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#head = 0
    }
  }

  /** Index of the first live entry with id strictly after `id`. */
  #indexAfter(id: string): number {
    let lo = this.#head
    let hi = this.#entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareIds(this.#entries[mid]!.id, id) <= 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  after(id: string, count: number): MemoryEntry[] {
    const start = this.#indexAfter(id)
    return this.#entries.slice(start, start + count)
  }

  /** How many live entries have ids strictly after `id`. */
  countAfter(id: string): number {
    return this.#entries.length - this.#indexAfter(id)
  }

  /** The newest of the latest `count` entries that `match` accepts, as add-each-once-1.lua looks. */
  findLatest(count: number, match: (entry: MemoryEntry) => boolean): MemoryEntry | undefined {
    const stop = Math.max(this.#head, this.#entries.length - count)
    for (let i = this.#entries.length - 1; i >= stop; i--) {
      if (match(this.#entries[i]!)) return this.#entries[i]
    }
    return undefined
  }

  find(id: string): MemoryEntry | undefined {
    const index = this.#indexAfter(id) - 1
    const entry = index >= this.#head ? this.#entries[index] : undefined
    return entry?.id === id ? entry : undefined
  }

  /** XDEL: drops these entries (pending lists keep their ids, as in Redis); returns how many. */
  remove(ids: readonly string[]): number {
    let removed = 0
    for (const id of new Set(ids)) {
      const index = this.#indexAfter(id) - 1
      if (index < this.#head || this.#entries[index]!.id !== id) continue
      this.#entries.splice(index, 1)
      removed++
    }
    return removed
  }

  lastEntryId(): string {
    return this.length === 0 ? START_ID : this.#entries[this.#entries.length - 1]!.id
  }
}

/**
 * Who waits for appends to which key. Kept per key rather than per stream so that a reader
 * can wait for a stream that does not exist yet (as XREAD BLOCK does) without creating it.
 */
export class AppendWaiters {
  readonly #waiters = new Map<string, Set<() => void>>()

  /** Wakes everyone waiting on `key`. */
  notify(key: string): void {
    const waiting = this.#waiters.get(key)
    if (waiting) for (const wake of [...waiting]) wake()
  }

  /** Resolves on the next append to `key`, after `ms`, or when `signal` aborts: never polls. */
  wait(key: string, ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      let waiting = this.#waiters.get(key)
      if (!waiting) {
        waiting = new Set()
        this.#waiters.set(key, waiting)
      }
      const set = waiting
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        set.delete(done)
        if (set.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      set.add(done)
    })
  }
}
