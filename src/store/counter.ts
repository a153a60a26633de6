import { NOT_AN_INTEGER, replyError } from '../errors.ts'
import type { Client } from '../topology/types.ts'
import { SETTLE_COUNTER } from './scripts.ts'

/**
 * Below this size an integer reply is exact. Nearer 2^53 some clients decode it one off (ioredis
 * 6 adds each digit's char code before subtracting '0', which rounds past 2^53), and past 2^53 - 1
 * no JavaScript number holds the counter at all.
 */
const EXACT_REPLY = Number.MAX_SAFE_INTEGER - 127

/**
 * An integer step of an integer counter (the cache's) as a plain INCRBY: a script costs Redis
 * several times the CPU. A reply near or past 2^53 - 1 is settled by a script: the counter's
 * exact text, or the step undone and refused when the sum is past it. Between the two, another
 * caller's step may land; its sum is what this call answers then.
 */
export async function incrementBy(client: Client, key: string, by: number): Promise<number> {
  const value = await client.incrby(key, by)
  if (Math.abs(value) <= EXACT_REPLY) return value
  const exact = Number(await SETTLE_COUNTER.run(client, [key], [by]))
  // Deleted or overwritten in between: the sum INCRBY answered is the last this call made.
  return Number.isSafeInteger(exact) ? exact : value
}

/**
 * A step of a store counter, integer or fractional, as one INCRBYFLOAT: for an integer counter
 * and step its sum is INCRBY's, and being one command sent at once, it stays in call order with
 * the calls after it (an INCRBY answered "not an integer" had to be sent again, after them).
 * Its reply is text, exact whatever the client's integer decoding. A sum past 2^53 - 1 either
 * way (whole or not: past it a number holds no fraction, and the long double Redis adds in
 * rounds differently from memory's exact decimals) is undone by the opposite step and refused;
 * between the two another caller may read it.
 */
export async function addToCounter(client: Client, key: string, by: number): Promise<number> {
  const text = await client.incrbyfloat(key, by)
  const value = Number(text)
  if (Math.abs(value) <= Number.MAX_SAFE_INTEGER) return value
  await client.incrbyfloat(key, -by)
  throw replyError(NOT_AN_INTEGER)
}
