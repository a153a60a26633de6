import type { NamespaceKeys } from '../inspect.ts'

/** How often the dashboard walks the namespace (key counts, stream discovery), ms. */
export const KEYSPACE_INTERVAL = 30_000

/**
 * Walks the namespace (SCAN of every key of every master) on a cadence of its own, and keeps
 * the last walk that succeeded. A walk costs one SCAN call per SCAN_COUNT keys of the node, the
 * application's included; a refresh costs a few commands per stream. Keeping the walk out of
 * the refresh means a keyspace of millions neither slows nor fails the snapshot: only the key
 * counts, and the streams that appeared since, wait for the next walk. Walks never overlap.
 */
export class KeyspaceWatch {
  /** The last walk that succeeded, as it found the namespace. */
  #walk: NamespaceKeys | undefined
  /** The last walk that read every node: what a walk that left one out keeps streams of. */
  #whole: NamespaceKeys | undefined
  #first: Promise<void> | undefined
  #current: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  /**
   * `walk` every `interval` ms after the previous one settled; after a failed walk (Redis away),
   * `retry` ms instead, so the counts come back soon after Redis does.
   */
  constructor(
    private readonly walk: () => Promise<NamespaceKeys>,
    private readonly interval: number,
    private readonly retry: number,
  ) {}

  /** Starts the first walk now. */
  start(): void {
    this.#first = this.#run()
  }

  /**
   * The last walk that succeeded, with the streams it kept if it left a node out (keepingStreams);
   * undefined before the first.
   */
  latest(): NamespaceKeys | undefined {
    return this.#walk && keepingStreams(this.#whole, this.#walk)
  }

  /**
   * The streams the last walk found itself: what the rates are read from. A stream kept from an
   * earlier walk may be on a node that is down, whose one failed read would blank every chart.
   */
  found(): string[] {
    return this.#walk?.streams ?? []
  }

  /** Settles when the first walk has, or after `ms`, whichever comes first. */
  async first(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms)
    })
    await Promise.race([this.#first, waited]).finally(() => clearTimeout(timer))
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#current
  }

  #run(): Promise<void> {
    this.#current = this.walk().then(
      (walk) => {
        this.#walk = walk
        if (walk.skipped.length === 0) this.#whole = walk
        this.#schedule(this.interval)
      },
      // Unreachable: the refreshes say so; the last counts stay, dated by their `at`.
      () => this.#schedule(this.retry),
    )
    return this.#current
  }

  #schedule(delay: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => void this.#run(), delay)
    this.#timer.unref()
  }
}

/**
 * A walk that left a node out (down) found none of its streams: the streams of `whole`, the last
 * walk of every node, stay among this one's, for each refresh to try, which names one on a node
 * still down unavailable and drops one TYPE says is gone. Dropped at once, a stream vanished
 * from the page and from /metrics without a word (helper-247). Kept from the last whole walk
 * only, not from walks that kept some too, so that streams come and go during a long outage
 * without piling up. A walk of every node stands as it is.
 */
export function keepingStreams(whole: NamespaceKeys | undefined, walk: NamespaceKeys): NamespaceKeys {
  if (walk.skipped.length === 0 || whole === undefined) return walk
  return { ...walk, streams: [...new Set([...walk.streams, ...whole.streams])].sort() }
}
