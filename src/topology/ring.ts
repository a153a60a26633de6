import { crc32 } from 'node:zlib'
import { hashSlotSource } from '../keyspace.ts'

/** Virtual nodes per server: enough that three servers split keys within a few percent. */
export const VIRTUAL_NODES = 160

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
      for (let i = 0; i < VIRTUAL_NODES; i++) points.push({ hash: crc32(`${node}-${i}`), node })
    }
    // Ties (rare) are broken by node id so that the ring is the same whatever the input order.
    points.sort((a, b) => a.hash - b.hash || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    this.#points = Uint32Array.from(points, (p) => p.hash)
    this.#owners = points.map((p) => p.node)
  }

  /** The node that owns `key` (by its hash tag when it has one). */
  nodeFor(key: string): string {
    const hash = crc32(hashSlotSource(key))
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
