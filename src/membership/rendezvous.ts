/**
 * Rendezvous (highest random weight) hashing: a key belongs to the member with the highest
 * hash of (member, key). Removing a member moves only the keys it owned, each to the member
 * that was second for it; adding one takes about 1/N of the keys from the others. No ring and
 * no shared state: every process that knows the same members picks the same owner.
 */

const SEED_A = 0xdeadbeef
const SEED_B = 0x41c6ce57

/**
 * A 53-bit string hash (two 32-bit multiply-xorshift lanes mixed together, after cyrb53):
 * fast, deterministic across processes and platforms, and wide enough that ties never matter.
 * Every process of a fleet must agree on it: changing it moves keys between owners.
 */
export function hash53(text: string): number {
  const lanes = new Int32Array(2)
  mix(text, SEED_A, SEED_B, lanes)
  return finish(lanes[0]!, lanes[1]!)
}

/** The two lanes after `text`, from `a` and `b`, into `out`. */
function mix(text: string, a: number, b: number, out: Int32Array): void {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    a = Math.imul(a ^ code, 2654435761)
    b = Math.imul(b ^ code, 1597334677)
  }
  out[0] = a
  out[1] = b
}

function finish(a: number, b: number): number {
  a = Math.imul(a ^ (a >>> 16), 2246822507)
  a ^= Math.imul(b ^ (b >>> 13), 3266489909)
  b = Math.imul(b ^ (b >>> 16), 2246822507)
  b ^= Math.imul(a ^ (a >>> 13), 3266489909)
  return 4294967296 * (2097151 & b) + (a >>> 0)
}

/**
 * Per frozen list of members, the lanes after each `${member}\u0000`: the owner() calls of one
 * turn share one frozen list of the live members (LiveReads), so each member's part of the hash
 * is mixed once for all of them, not once per call (1,000 calls over 5,000 members: 5,000,000
 * times). A list that is not frozen (a caller's own `members`) may change between calls.
 */
const prefixes = new WeakMap<readonly string[], Int32Array>()

function prefixesOf(members: readonly string[]): Int32Array {
  const kept = prefixes.get(members)
  if (kept !== undefined) return kept
  const lanes = new Int32Array(members.length * 2)
  for (let i = 0; i < members.length; i++) {
    mix(`${members[i]}\u0000`, SEED_A, SEED_B, lanes.subarray(i * 2, i * 2 + 2))
  }
  if (Object.isFrozen(members)) prefixes.set(members, lanes)
  return lanes
}

/**
 * The member with the highest weight for `key` (hash53 of `${member}\u0000${key}`); undefined
 * when there are no members.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  const lanes = prefixesOf(members)
  // UTF-16 units, as hash53 reads them (Array.from(key) would give code points).
  const codes: number[] = []
  for (let i = 0; i < key.length; i++) codes.push(key.charCodeAt(i))
  let best: string | undefined
  let bestWeight = -1
  for (let i = 0; i < members.length; i++) {
    const member = members[i]!
    // mix(key, …) inline: this loop is the call's cost.
    let a = lanes[i * 2]!
    let b = lanes[i * 2 + 1]!
    for (const code of codes) {
      a = Math.imul(a ^ code, 2654435761)
      b = Math.imul(b ^ code, 1597334677)
    }
    const weight = finish(a, b)
    // Ties (practically never) go to the larger id, so the answer never depends on input order.
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member > best)) {
      best = member
      bestWeight = weight
    }
  }
  return best
}
