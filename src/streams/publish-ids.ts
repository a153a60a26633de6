import { newToken } from '../store/tokens.ts'
import { ENVELOPE_FIELD, PUBLISH_ID_FIELD } from './entry.ts'

/**
 * Publish ids (SPEC §8): each publish, publishToChannel and membership.send call gets an id that
 * every send of it carries, in the entry itself (PUBLISH_ID_FIELD, which readers never see), so
 * that a send repeated after its reply was lost (a timeout, a dropped connection) adds no second
 * copy and returns the first one's entry id. Like Kafka's idempotent producer, but without a
 * per-producer sequence: any number of processes and pipelined calls publish at once.
 *
 * The first send of a call is a plain XADD: nothing is looked up, nothing else is stored. Only a
 * resend (redfleet's retry after a failed send) runs add-each-once-1.lua, which looks for the publish
 * id among the stream's latest RESEND_WINDOW entries before adding. A resend leaves after its
 * first send failed, on the same connection (StreamWrite.sentOn), and a node runs one
 * connection's commands in order, so that first send was either applied before the lookup or
 * never will be (its connection is gone). A repeat is
 * therefore recognised while its first copy is still among the stream's latest RESEND_WINDOW
 * entries: fewer than RESEND_WINDOW other entries were added after it, and trimming (MAXLEN) has
 * not removed it.
 */
export const RESEND_WINDOW = 1000

/** A new publish id: unique to this call of this process. */
export function newPublishId(): string {
  return newToken()
}

/**
 * The publish id of the dead letter of entry `id` of the main stream for `group`: the same for
 * every consumer that writes it, so that one which died after writing it and before acking the
 * entry leaves no second copy (the next consumer's write finds this one, add-each-once-1.lua).
 */
export function deadLetterId(group: string, id: string): string {
  return `dead:${group}:${id}`
}

/** The fields of an entry that carries `publishId`: the envelope's, then the id's. */
export function withPublishId(envelopeJson: string, publishId: string): string[] {
  return [ENVELOPE_FIELD, envelopeJson, PUBLISH_ID_FIELD, publishId]
}

/** The publish id an entry's fields carry (its field after PUBLISH_ID_FIELD), if any. */
export function publishIdOf(fields: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === PUBLISH_ID_FIELD) return fields[i + 1]
  return undefined
}
