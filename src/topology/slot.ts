import calculateSlot from 'cluster-key-slot'
import { hashSlotSource } from '../keyspace.ts'

/** How many hash slots a Redis Cluster has. */
export const SLOT_COUNT = 16_384

/**
 * The Redis Cluster slot of a key, as Redis computes it: CRC16 of its hash tag, or of the whole
 * key when it has no valid one. cluster-key-slot (and the clients built on it) reads `a{}b}c` as
 * tagged `b`, where Redis hashes it whole: such a key is hashed here.
 */
export function keySlot(key: string): number {
  const source = hashSlotSource(key)
  return source === key && key.includes('{') ? wholeKeySlot(key) : calculateSlot(source)
}

/** The cluster slot of a key hashed whole (CRC16/XMODEM), whatever braces it holds. */
export function wholeKeySlot(key: string): number {
  let crc = 0
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc & 0x3fff
}
