import { translateError } from '../errors.ts'
import { isPassing, LoopBackoff } from '../loops.ts'
import type { StreamBackend } from './backend.ts'
import { BLOCK_INTERVAL } from './consumer.ts'
import { type Delivery, decodeEntry } from './entry.ts'

/** Entries per XREAD of a tail. */
const READ_COUNT = 256

export interface ReaderSettings {
  backend: StreamBackend
  key: string
  /** The stream as its errors name it: the caller's channel or member; none for the main stream. */
  name?: string
  /** Deliver entries strictly after this id; '$' = after the newest entry when the read starts. */
  after: string
  signal: AbortSignal
  op: string
  onError: (error: unknown) => void
}

/**
 * Every entry of a stream after a position, in order, forever (until the signal aborts):
 * XREAD BLOCK on a pooled dedicated connection, resuming after the last id it yielded, so
 * nothing appended while the reader was busy is skipped. '$' is resolved once, at the start,
 * to the newest id (resolving it on every read would skip entries added between two reads).
 * Entries not written by redfleet are skipped. Outages (src/loops.ts) are reported once and
 * ridden out with backoff, resuming after the last id yielded; a command error ends it.
 */
export async function* readEntries(s: ReaderSettings): AsyncGenerator<Delivery, void, undefined> {
  let after: string | undefined = s.after === '$' ? undefined : s.after
  const backoff = new LoopBackoff(s.onError, { quietOutages: true })
  while (!s.signal.aborted) {
    try {
      after ??= await s.backend.lastId(s.key)
      const entries = await s.backend.read(s.key, after, READ_COUNT, BLOCK_INTERVAL, s.signal)
      backoff.succeeded()
      for (const entry of entries) {
        after = entry.id
        const delivery = decodeEntry(entry)
        if (delivery) yield delivery
        if (s.signal.aborted) return
      }
    } catch (caught) {
      if (s.signal.aborted) return
      const error = translateError(caught, s.op, s.name)
      s.backend.loopFailed(error)
      if (!isPassing(error)) throw error
      await backoff.failed(error, s.signal)
    }
  }
}
