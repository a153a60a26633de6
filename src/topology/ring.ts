import { crc32 } from 'node:zlib'
import { hashSlotSource } from '../keyspace.ts'

/** Virtual nodes per server: enough that three servers split keys within a few percent. */
export const VIRTUAL_NODES = 160

/**
 * CRC32 finalised with MurmurHash3's fmix32. CRC is linear: labels that differ only in a few
 * digits (`host:port/db-17`, or `key1`..`key300`) give correlated hashes, and three local servers
 * ended up owning 41/31/28% of keys. The finaliser is a bijection that spreads those bits, which
 * brings the split within a few percent of even, as random points would be.
 */
export function ringHash(text: string): number {
  let h = crc32(text)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * A consistent-hash ring (CRC32, 160 virtual nodes per server). Positions depend only on the
 * node ids (`host:port/db`), never on the order servers were listed in, so reordering the url
 * list moves no key, and adding or removing one server moves only about 1/N of the keys.
 */
export class HashRing {
  readonly #points: Uint32Array
  readonly #owners: string[]

  constructor(nodeIds: readonly string[]) {
    const points: { hash: number; node: string }[] = []
    for (const node of nodeIds) {
      for (let i = 0; i < VIRTUAL_NODES; i++) points.push({ hash: ringHash(`${node}-${i}`), node })
    }
    // Ties (rare) are broken by node id so that the ring is the same whatever the input order.
    points.sort((a, b) => a.hash - b.hash || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    this.#points = Uint32Array.from(points, (p) => p.hash)
    this.#owners = points.map((p) => p.node)
  }

  /** The node that owns `key` (by its hash tag when it has one). */
  nodeFor(key: string): string {
    const hash = ringHash(hashSlotSource(key))
    const points = this.#points
    // First point clockwise at or after the key's hash; wrap around past the last one.
    let low = 0
    let high = points.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (points[mid]! < hash) low = mid + 1
      else high = mid
    }
    return this.#owners[low === points.length ? 0 : low]!
  }
}
