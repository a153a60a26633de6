import { encodeJson } from '../codec.ts'
import { invalidArgument, isPlainObject } from '../validate.ts'

/** Any JSON object: what `publish` stores and every reader gets back. */
export interface Envelope {
  [field: string]: unknown
}

/** One entry read from a stream: its id and its envelope. */
export interface Delivery {
  id: string
  envelope: Envelope
}

/** An entry as the backends return it: Redis' field list (null when Redis lost the entry). */
export interface RawEntry {
  id: string
  fields: string[] | null
}

/**
 * The single field redfleet writes per entry. One JSON field (rather than one Redis field per
 * envelope field) keeps nested values, types and field order exact, and makes anything else
 * recognisably "not ours".
 */
export const ENVELOPE_FIELD = 'env'

/**
 * The field that carries a publish's id (`[env, json, pid, id]`, see publish-ids.ts): what a
 * resend looks for, so that it adds no second copy. Readers see the envelope only.
 */
export const PUBLISH_ID_FIELD = 'pid'

/**
 * The field that addresses a replayed dead letter to one consumer group: `[env, json, for, group]`,
 * followed by a publish id when the replay was not one script (admin/dead-letters.ts). That
 * group's consumers handle it; every other reader skips it as not theirs.
 */
export const REPLAY_FIELD = 'for'

/** The fields of a new entry; TypeError for a non-object, SerializationError for non-JSON content. */
export function encodeEnvelope(envelope: unknown, op: string, where: string): string[] {
  if (!isPlainObject(envelope)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: the envelope must be a plain JSON object, got ${describe(envelope)}`,
    )
  }
  return [ENVELOPE_FIELD, encodeJson(envelope, op, where)]
}

/**
 * The envelope of an entry, or undefined when the entry was not written by redfleet (other
 * fields, bad JSON, not an object): such entries are skipped, never allowed to crash a reader.
 * A replay addressed to a group (REPLAY_FIELD) is decoded only for that `group`; a publish id
 * (PUBLISH_ID_FIELD) is not part of the delivery.
 */
export function decodeEntry(entry: RawEntry, group?: string): Delivery | undefined {
  const fields = entry.fields
  if (fields?.[0] !== ENVELOPE_FIELD) return undefined
  if (fields.length !== 2 && !hiddenFor(fields, group)) return undefined
  let envelope: unknown
  try {
    envelope = JSON.parse(fields[1]!)
  } catch {
    return undefined
  }
  return isPlainObject(envelope) ? { id: entry.id, envelope } : undefined
}

/**
 * Whether the fields after the envelope are ours and leave the entry to `group`: a publish id
 * (hidden), a replay's group (for that group only), or the group then a publish id (a dead
 * letter's replay, see admin/dead-letters.ts).
 */
function hiddenFor(fields: readonly string[], group: string | undefined): boolean {
  if (fields.length === 4)
    return fields[2] === PUBLISH_ID_FIELD || (fields[2] === REPLAY_FIELD && fields[3] === group)
  return (
    fields.length === 6 && fields[2] === REPLAY_FIELD && fields[3] === group && fields[4] === PUBLISH_ID_FIELD
  )
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'non-plain'} object` : typeof value
}
