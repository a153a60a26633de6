import { encodeJson } from '../codec.ts'
import type { TrackedJob } from './options.ts'

/**
 * A job's record: `{"t":startedAt,"p":payload}`, with `p` left out for an undefined payload so
 * that `undefined` round-trips (JSON has no undefined). Throws SerializationError for a payload
 * JSON cannot represent.
 */
export function encodeRecord(jobId: string, payload: unknown, startedAt: number): string {
  if (payload === undefined) return `{"t":${startedAt}}`
  return `{"t":${startedAt},"p":${encodeJson(payload, 'tracker.track', jobId)}}`
}

/** The job a record describes, or undefined when the text was not written by redfleet. */
export function decodeRecord(jobId: string, text: string, instanceId: string): TrackedJob | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const { t, p } = parsed as { t?: unknown; p?: unknown }
  if (typeof t !== 'number') return undefined
  return { id: jobId, payload: p, instanceId, startedAt: t }
}

/** Oldest first, then by id: a stable order for listings and recovery passes. */
export function byStart(a: TrackedJob, b: TrackedJob): number {
  return a.startedAt - b.startedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}
