import { randomInt } from 'node:crypto'

/**
 * A tag's version as an entry stamps it. A version is a random number, set by the first write
 * that finds the tag without one (establish) and replaced by each invalidateTag (bump), never a
 * count from 0: a tag's version key lost with its node (restarted empty, a replica that had not
 * copied it) would count from 0 again, back to the version the invalidated entries were stamped
 * with, and they would be read again (helper-294). A lost version now reads as MISSING, which no
 * entry is stamped with, and the next tagged write establishes a new one.
 */
export function newTagVersion(): number {
  // The largest range randomInt takes: one chance in 2^48 of meeting a version it replaces.
  return randomInt(1, 2 ** 48)
}

/** The version of a tag whose version key is absent: no entry is current under it. */
export const MISSING_VERSION = -1

/** A tag's version as stored. */
export function tagVersion(text: string | null): number {
  return text === null ? MISSING_VERSION : Number(text)
}
