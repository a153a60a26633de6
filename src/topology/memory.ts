import { replyError, WRONGTYPE } from '../errors.ts'

/**
 * The embedded backend: one keyspace per process, shared by every memory fleet in it, the way
 * every process of a real fleet shares one Redis. Entries expire lazily on access and by an
 * unref'd sweep, so an idle process neither leaks memory nor is kept alive by the timer.
 */
interface Entry {
  value: unknown
  expiresAt: number | undefined
}

const SWEEP_INTERVAL = 5_000

export class MemoryKeyspace {
  readonly #entries = new Map<string, Entry>()
  #sweeper: NodeJS.Timeout | undefined

  #live(key: string, now = Date.now()): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry?.expiresAt !== undefined && entry.expiresAt <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  get<T>(key: string): T | undefined {
    return this.#live(key)?.value as T | undefined
  }

  /**
   * The string under `key`, as GET answers: undefined when missing, a WRONGTYPE reply error when
   * it holds another type (a stream, a sorted set), which Redis refuses to read or change as one.
   */
  string(key: string): string | undefined {
    const value = this.#live(key)?.value
    if (value === undefined || typeof value === 'string') return value
    throw replyError(WRONGTYPE)
  }

  has(key: string): boolean {
    return this.#live(key) !== undefined
  }

  /** Stores `value`; `ttl` in ms, or 'keep' to keep the entry's current expiry (SET KEEPTTL). */
  set(key: string, value: unknown, ttl?: number | 'keep'): void {
    const expiresAt =
      ttl === 'keep' ? this.#live(key)?.expiresAt : ttl === undefined ? undefined : Date.now() + ttl
    this.#entries.set(key, { value, expiresAt })
    if (expiresAt !== undefined) this.#startSweeper()
  }

  delete(key: string): boolean {
    const existed = this.#live(key) !== undefined
    this.#entries.delete(key)
    return existed
  }

  /** Remaining time to live in ms; -1 without expiry, -2 when missing (as PTTL answers). */
  pttl(key: string): number {
    const entry = this.#live(key)
    if (!entry) return -2
    return entry.expiresAt === undefined ? -1 : entry.expiresAt - Date.now()
  }

  /** Sets an expiry on an existing entry; false when the key is missing. */
  expire(key: string, ttl: number): boolean {
    const entry = this.#live(key)
    if (!entry) return false
    entry.expiresAt = Date.now() + ttl
    this.#startSweeper()
    return true
  }

  /** Live keys starting with `prefix`. */
  *keys(prefix: string): Generator<string> {
    const now = Date.now()
    for (const key of [...this.#entries.keys()]) {
      if (key.startsWith(prefix) && this.#live(key, now)) yield key
    }
  }

  #startSweeper(): void {
    if (this.#sweeper) return
    this.#sweeper = setInterval(() => {
      const now = Date.now()
      for (const key of this.#entries.keys()) this.#live(key, now)
    }, SWEEP_INTERVAL)
    this.#sweeper.unref()
  }
}

/** The process-wide keyspace every memory fleet uses. */
export const processMemory = new MemoryKeyspace()
