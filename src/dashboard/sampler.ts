import type { StreamCounters } from './counters.ts'

/** One reading of the fleet's cumulative counters. */
export interface Reading {
  /** ms since the epoch. */
  at: number
  streams: StreamCounters
  /** Sum of the nodes' own ops/s (INFO instantaneous_ops_per_sec); null on memory. */
  opsPerSec: number | null
  /** Cumulative keyspace hits and misses over all nodes; null on memory. */
  hits: number | null
  misses: number | null
}

/** Rates over the last minutes, column-wise as uPlot takes them; null is a gap (a failed read). */
export interface RateSeries {
  /** Sampling interval, ms. */
  interval: number
  /** Sample times, seconds since the epoch. */
  at: number[]
  published: (number | null)[]
  consumed: (number | null)[]
  acked: (number | null)[]
  opsPerSec: (number | null)[]
  /** Keyspace hits / (hits + misses) over the interval, 0..1. */
  hitRatio: (number | null)[]
}

type Column = Exclude<keyof RateSeries, 'interval'>
const COLUMNS: Column[] = ['at', 'published', 'consumed', 'acked', 'opsPerSec', 'hitRatio']

/** Per second between two cumulative values; a counter that went back (a stream deleted) is a gap. */
function perSecond(now: number, before: number, seconds: number): number | null {
  return now >= before ? (now - before) / seconds : null
}

function ratio(hits: number, misses: number): number | null {
  return hits + misses > 0 ? hits / (hits + misses) : null
}

/**
 * Samples the fleet at a fixed interval, by the dashboard itself (so the charts need nothing
 * from the processes being watched), and keeps the last `capacity` points. Reads never overlap:
 * the next one is scheduled when the previous one settles.
 */
export class Sampler {
  readonly #series: RateSeries
  #previous: Reading | undefined
  #timer: NodeJS.Timeout | undefined
  #current: Promise<void> | undefined
  #stopped = false

  constructor(
    private readonly read: () => Promise<Reading>,
    private readonly interval: number,
    private readonly capacity: number,
  ) {
    this.#series = { interval, at: [], published: [], consumed: [], acked: [], opsPerSec: [], hitRatio: [] }
  }

  start(): void {
    this.#schedule(0)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#current
  }

  series(): RateSeries {
    return this.#series
  }

  #schedule(delay: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#current = this.#sample().finally(() => this.#schedule(this.interval))
    }, delay)
    this.#timer.unref()
  }

  async #sample(): Promise<void> {
    let reading: Reading | undefined
    try {
      reading = await this.read()
    } catch {
      // Redis unreachable: a gap in every chart; the page says why from /status.json.
    }
    const before = this.#previous
    this.#previous = reading
    if (!reading) return this.#push({ at: Date.now() / 1000 })
    if (!before) return
    const seconds = (reading.at - before.at) / 1000
    const { streams: now } = reading
    const hits = reading.hits !== null && before.hits !== null ? reading.hits - before.hits : null
    const misses = reading.misses !== null && before.misses !== null ? reading.misses - before.misses : null
    this.#push({
      at: reading.at / 1000,
      published: perSecond(now.published, before.streams.published, seconds),
      consumed: perSecond(now.consumed, before.streams.consumed, seconds),
      acked: perSecond(now.acked, before.streams.acked, seconds),
      opsPerSec: reading.opsPerSec,
      hitRatio: hits === null || misses === null ? null : ratio(hits, misses),
    })
  }

  #push(point: Partial<Record<Column, number | null>> & { at: number }): void {
    for (const column of COLUMNS) {
      const values = this.#series[column] as (number | null)[]
      values.push(point[column] ?? null)
      if (values.length > this.capacity) values.shift()
    }
  }
}
