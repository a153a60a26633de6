import type { TextCodec } from '../codec.ts'
import type { Durability } from '../durability.ts'
import {
  ConflictError,
  ConnectionError,
  isAmbiguous,
  TimeoutError,
  thrownByUserCode,
  translateError,
} from '../errors.ts'
import type { StoreBackend } from './backend.ts'
import { newToken } from './tokens.ts'

/** Most times `update` re-reads after losing a race before it gives up with ConflictError. */
const MAX_CONFLICTS = 1000

/** One call of `store.update`: what it reads, computes and writes. */
export interface UpdateCall<V> {
  backend: StoreBackend
  values: TextCodec
  /** The caller's key (for messages) and the full Redis key. */
  key: string
  full: string
  tokenKey: string
  tokenTtl: number
  fn: (current: V | undefined) => V | undefined | Promise<V | undefined>
  ttl: number | undefined
  durability: Durability | undefined
  /** Throws ClosedError once the fleet is closed: a `fn` that settles after close writes nothing. */
  assertOpen: () => void
}

/** A computed write not yet known to be applied. */
interface PendingWrite<V> {
  result: V | undefined
  expected: string | undefined
  next: string | undefined
  token: string
  /** The ambiguous failure of an earlier send: that send may have been applied. */
  unsure?: unknown
  /** Set once it is known that nobody can tell whether the write was applied. */
  unknown?: unknown
}

/**
 * An optimistic read-modify-write as the attempts of one operation, for the operation runner
 * (SPEC §2, §8). Each attempt reads, awaits `fn`, and compare-and-sets; a conflict re-reads.
 * `fn`'s result is never applied twice: a failure while reading is simply retried, but once a
 * write was sent and its reply lost, a later attempt re-sends that same write (same token)
 * instead of computing a new one. The script recognises its own token; if the key changed
 * meanwhile and the token is no longer there, nobody can tell whether the write was applied,
 * and the call rejects with the ambiguous error (`outcome: 'unknown'`), never retried again.
 */
export function updateAttempts<V>(call: UpdateCall<V>): () => Promise<V | undefined> {
  let write: PendingWrite<V> | undefined
  let conflicts = 0
  return async () => {
    for (;;) {
      write ??= await compute(call)
      if (write === undefined) return undefined
      if (write.unknown !== undefined) throw write.unknown
      if (await send(call, write)) return write.result
      if (write.unsure !== undefined) {
        write.unknown = write.unsure
        throw write.unknown
      }
      write = undefined
      if (++conflicts >= MAX_CONFLICTS) {
        throw new ConflictError(
          `store.update '${call.key}': gave up after ${MAX_CONFLICTS} conflicting writes`,
        )
      }
      // Lost the race to another process: back off a little (randomised, growing) and re-read.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(conflicts, 20)))
    }
  }
}

/** Reads the key and runs `fn`; undefined when there is nothing to write (missing stays missing). */
async function compute<V>(call: UpdateCall<V>): Promise<PendingWrite<V> | undefined> {
  const before =
    (await call.backend.get(call.full).catch((raw: unknown) => readFailed(call, raw))) ?? undefined
  const current = call.values.decode<V>(before, 'store.update', call.key)
  let result: V | undefined
  try {
    result = await call.fn(current)
  } catch (error) {
    throw thrownByUserCode(error)
  }
  // A closed Redis connection refuses the write by itself; the memory topology needs telling.
  call.assertOpen()
  if (result === undefined && before === undefined) return undefined
  const next = result === undefined ? undefined : call.values.encode(result, 'store.update', call.key)
  return { result, expected: before, next, token: newToken() }
}

/**
 * The read of an attempt failed: a read comes before the attempt's write, and after a write that
 * may have been applied no attempt reads again (it re-sends that write), so nothing of this call
 * was written. A timeout or a lost connection says so (`outcome: 'not-applied'`, SPEC §8).
 */
function readFailed<V>(call: UpdateCall<V>, raw: unknown): never {
  const error = translateError(raw, 'store.update', call.key)
  if (!isAmbiguous(error)) throw error
  const options = { cause: (error as Error).cause, outcome: 'not-applied' as const }
  const message = `${(error as Error).message} (reading the value: nothing was written)`
  throw error instanceof TimeoutError
    ? new TimeoutError(message, options)
    : new ConnectionError(message, options)
}

async function send<V>(call: UpdateCall<V>, write: PendingWrite<V>): Promise<boolean> {
  try {
    return await call.backend.compareAndSet({
      key: call.full,
      tokenKey: call.tokenKey,
      token: write.token,
      tokenTtl: call.tokenTtl,
      expected: write.expected,
      next: write.next,
      ttl: call.ttl,
      durability: call.durability,
    })
  } catch (raw) {
    const error = translateError(raw, 'store.update', call.key)
    if (isAmbiguous(error)) write.unsure = error
    throw error
  }
}
