import { randomBytes } from 'node:crypto'
import calculateSlot from 'cluster-key-slot'
import { hashSlotSource } from '../keyspace.ts'
import { wholeKeySlot } from '../topology/slot.ts'

/**
 * Tokens that let a repeated send of a claim or an update recognise its own earlier write
 * (SPEC §8). Each key that needs one has a token key in the same slot (so one script can touch
 * both on a cluster), holding the token of the key's last such write for `tokenTtl` ms.
 */

/** This process' part of every token: tokens of two processes never collide. */
const PROCESS = randomBytes(9).toString('base64url')
let sequence = 0

/** A token unique to one call of this process (the same on every send of that call). */
export function newToken(): string {
  return `${PROCESS}:${(sequence++).toString(36)}`
}

/**
 * The token key of `fullKey`, under `prefix` (the fleet namespace's), in the slot of `fullKey`:
 * a key with a hash tag keeps it (the first `{` of the token key is the key's own), a key
 * without one is wrapped in one. A key that has no tag but a `}` cannot be wrapped: it gets
 * the shortest tag of its slot instead.
 */
export function tokenKey(prefix: string, fullKey: string): string {
  const source = hashSlotSource(fullKey)
  if (source !== fullKey) return `${prefix}token:${fullKey}`
  return `${prefix}token:{${source.includes('}') ? tagOfSlot(wholeKeySlot(source)) : source}}`
}

const slotTags = new Map<number, string>()

/** The shortest base-36 text (no braces) whose cluster slot is `slot` (found once per slot, ~16k tries). */
function tagOfSlot(slot: number): string {
  let tag = slotTags.get(slot)
  for (let n = 0; tag === undefined; n++) {
    const candidate = n.toString(36)
    if (calculateSlot(candidate) === slot) tag = candidate
  }
  slotTags.set(slot, tag)
  return tag
}

/**
 * How long a token must live: longer than every send of one call can take (each attempt's
 * command timeout plus the longest backoff before it), with a floor of a minute.
 */
export function tokenLifetime(attempts: number, maxBackoff: number, commandTimeout: number): number {
  return Math.max(60_000, 2 * attempts * (commandTimeout + maxBackoff))
}
