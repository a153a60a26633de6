import type { OpenTrace } from '../telemetry.ts'
import { assertCallOptions, describeValue, invalidArgument } from '../validate.ts'
import type { CacheBackend } from './backend.ts'
import type { Failsafe } from './failsafe.ts'
import { note } from './instrument.ts'
import { expandKey } from './keys.ts'
import { counterTtl, type WriteDefaults } from './options.ts'
import type { CallOrder } from './order.ts'
import type { CacheMethod, RunCommand } from './run.ts'
import type { KeyScope } from './scope.ts'
import type { CacheKey, WriteOptions } from './types.ts'
import type { EntryWriter } from './writer.ts'

export interface CounterParts {
  backend: CacheBackend
  run: RunCommand
  keys: KeyScope
  writer: EntryWriter
  failsafe: Failsafe
  order: CallOrder
  defaults: WriteDefaults
}

/**
 * Counters: raw integers changed atomically by INCRBY (a TTL given only to a counter that has
 * none). An increment is applied exactly once or fails with `outcome: 'unknown'` (SPEC §8): the
 * runner never re-sends it after an ambiguous failure, and the failsafe hands that failure to
 * errorHandler while the call returns undefined.
 */
export class Counters {
  readonly #o: CounterParts

  constructor(parts: CounterParts) {
    this.#o = parts
  }

  async add(
    method: Extract<CacheMethod, 'increment' | 'decrement'>,
    key: CacheKey,
    by: number,
    o: { expiresIn?: number } | undefined,
    trace: OpenTrace | undefined,
  ): Promise<number | undefined> {
    const { backend, run, keys, writer, failsafe, order, defaults } = this.#o
    const name = expandKey(key, method)
    note(trace, { key: name })
    if (typeof by !== 'number' || !Number.isSafeInteger(by)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.${method}: by must be an integer, got ${describeValue(by)}`,
      )
    }
    const full = keys.full(keys.of(method), name)
    assertCallOptions(o, `cache.${method}`, COUNTER_OPTIONS)
    const ttl = counterTtl(o?.expiresIn, defaults.expiresIn, method)
    const delta = method === 'decrement' ? -by : by
    // Held back by an earlier call: tracked, so that a later call on the key waits for it in turn.
    return order.changeAfter([full], order.beforeChange(full), () =>
      failsafe.guard(method, undefined, async () => {
        writer.evict(full)
        const next = await run(method, name, () => backend.increment(full, delta, ttl))
        writer.evict(full)
        return next
      }),
    )
  }

  /**
   * A counter's value: a raw integer string read as a number; undefined when absent or not one.
   * `read` is the cache's read under the name `readCounter` (its trace, its errorHandler calls).
   */
  static async read(read: (key: CacheKey) => Promise<unknown>, key: CacheKey): Promise<number | undefined> {
    const value = await read(key)
    if (typeof value === 'number') return Math.trunc(value)
    if (typeof value !== 'string' || !/^\s*-?\d+/.test(value)) return undefined
    return Number.parseInt(value, 10)
  }

  /** Stores a counter as a raw integer string. */
  static async write(
    write: (key: CacheKey, value: unknown, o: WriteOptions) => Promise<boolean>,
    key: CacheKey,
    value: number,
    o?: { expiresIn?: number },
  ): Promise<boolean> {
    // Past 2^53 - 1 the text is an exponent or rounded digits ("1e+21" reads back as 1).
    if (typeof value !== 'number' || !Number.isSafeInteger(Math.trunc(value))) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `cache.writeCounter: value must be a finite number within ±(2^53 - 1), got ${describeValue(value)}`,
      )
    }
    assertCallOptions(o, 'cache.writeCounter', COUNTER_OPTIONS)
    return write(key, Math.trunc(value), {
      raw: true,
      ...(o?.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
    })
  }
}

/** The options of a counter write (SPEC §3). */
const COUNTER_OPTIONS = ['expiresIn'] as const
