/**
 * Rendezvous (highest random weight) hashing: a key belongs to the member with the highest
 * hash of (member, key). Removing a member moves only the keys it owned, each to the member
 * that was second for it; adding one takes about 1/N of the keys from the others. No ring and
 * no shared state: every process that knows the same members picks the same owner.
 */

/**
 * A 53-bit string hash (two 32-bit multiply-xorshift lanes mixed together, after cyrb53):
 * fast, deterministic across processes and platforms, and wide enough that ties never matter.
 */
export function hash53(text: string): number {
  let a = 0xdeadbeef
  let b = 0x41c6ce57
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    a = Math.imul(a ^ code, 2654435761)
    b = Math.imul(b ^ code, 1597334677)
  }
  a = Math.imul(a ^ (a >>> 16), 2246822507)
  a ^= Math.imul(b ^ (b >>> 13), 3266489909)
  b = Math.imul(b ^ (b >>> 16), 2246822507)
  b ^= Math.imul(a ^ (a >>> 13), 3266489909)
  return 4294967296 * (2097151 & b) + (a >>> 0)
}

/** The member with the highest weight for `key`; undefined when there are no members. */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined
  let bestWeight = -1
  for (const member of members) {
    const weight = hash53(`${member}\u0000${key}`)
    // Ties (practically never) go to the larger id, so the answer never depends on input order.
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member > best)) {
      best = member
      bestWeight = weight
    }
  }
  return best
}
