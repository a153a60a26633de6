/// <reference types="node" preserve="true" />
// Kept in the published .d.ts, which use Node's types: TypeScript 7 loads no @types by itself.
import { encodeJson } from '../codec.ts'
import { SerializationError } from '../errors.ts'
import { type Fleet, isFleet } from '../fleet.ts'
import type { Store } from '../store/store.ts'
import {
  checkOptions,
  describeValue,
  invalidArgument,
  numberOption,
  type OptionSchema,
  stringOption,
} from '../validate.ts'
import { shareWarnings, warningsOf } from '../warnings.ts'
import { changesSince, type Json, mergeNewest } from './merge.ts'

export interface ConvertDataStoreOptions {
  /** Store prefix inside the fleet namespace; default 'convert:'. */
  prefix?: string | undefined
  /** Expiry of each visitor's record in ms, refreshed on every save; default none. */
  ttl?: number | undefined
  /** Most visitors kept in process memory between requests (oldest saved ones go first); default 10,000. */
  maxVisitors?: number | undefined
}

/**
 * A DataStore for `@convertcom/js-sdk`, which calls `get`/`set` synchronously, so Redis is
 * read before a request (`load`) and written after it (`save`). Writes merge instead of
 * replace, both locally (the SDK re-sends stale copies of visitors it queued earlier) and in
 * Redis (`store.update`, so two processes converting different goals of one visitor both
 * count): objects deep-merge, arrays union newest-first, scalars come from the newest write.
 */
export interface ConvertDataStore {
  /** The SDK's synchronous read: the visitor as loaded and changed in this process. */
  get(key: string): unknown
  /** The SDK's synchronous write: merged into this process' copy, persisted by `save`. */
  set(key: string, value: unknown): void
  /** Reads the visitor from Redis, so the SDK sees what every process recorded. */
  load(key: string): Promise<void>
  /** Writes what changed since `load` (every changed visitor when no key is given). */
  save(key?: string): Promise<void>
}

interface Visitor {
  /** As last read from (or written to) Redis: the base that changes are computed against. */
  base: Json | undefined
  current: Json | undefined
  /** A `set` whose value JSON cannot hold, refused: the next save of this visitor fails with it. */
  refused?: SerializationError | undefined
}

const clone = <T>(value: T): T => (value === undefined ? value : structuredClone(value))

/**
 * What a `set` keeps of `value`: the JSON the store will write (which also copies it), or the
 * SerializationError the store would fail with (a BigInt, a cycle, a function, a Date…, named
 * by where it is, never by its value). Refused here, it never reaches the merge and the change
 * checks, which compare JSON and would throw on it at every later load and save.
 */
function storable(value: unknown, key: string): Json | SerializationError {
  try {
    return JSON.parse(encodeJson(value, 'convert.set', key)) as Json
  } catch (error) {
    if (error instanceof SerializationError) return error
    throw error
  }
}

class FleetConvertDataStore implements ConvertDataStore {
  readonly #store: Store<Json>
  readonly #ttl: number | undefined
  readonly #max: number
  readonly #visitors = new Map<string, Visitor>()

  constructor(store: Store<Json>, ttl: number | undefined, max: number) {
    this.#store = store
    this.#ttl = ttl
    this.#max = max
  }

  get(key: string): unknown {
    // A copy: the SDK mutates what it gets (e.g. pushes onto `locations`).
    return clone(this.#visitors.get(key)?.current)
  }

  set(key: string, value: unknown): void {
    const visitor = this.#visitors.get(key) ?? { base: undefined, current: undefined }
    const json = storable(value, key)
    // Synchronous for the SDK, so never thrown here: the next save of this visitor says it.
    if (json instanceof SerializationError) visitor.refused ??= json
    else visitor.current = mergeNewest(visitor.current, json)
    this.#remember(key, visitor)
  }

  async load(key: string): Promise<void> {
    const stored = (await this.#store.get(key)) ?? undefined
    const visitor = this.#visitors.get(key)
    // Local changes not saved yet are kept on top of what Redis has now.
    const pending = visitor ? changesSince(visitor.base, visitor.current) : undefined
    this.#remember(key, { base: stored, current: mergeNewest(stored, pending), refused: visitor?.refused })
  }

  async save(key?: string): Promise<void> {
    const keys = key === undefined ? [...this.#visitors.keys()] : [key]
    await Promise.all(keys.map((k) => this.#saveOne(k)))
  }

  async #saveOne(key: string): Promise<void> {
    const visitor = this.#visitors.get(key)
    if (!visitor) return
    const { refused } = visitor
    if (refused) {
      // This save fails with it, once; the visitor's other changes go with the next save.
      visitor.refused = undefined
      throw refused
    }
    const changes = changesSince(visitor.base, visitor.current)
    if (changes === undefined) return
    // The changes are JSON (storable: set refused the rest); a stored value that cannot be read
    // fails the save, and the changes stay for the next one.
    let saved: Json | undefined
    try {
      saved = await this.#store.update(
        key,
        (stored) => mergeNewest(stored ?? undefined, changes) ?? null,
        this.#ttl === undefined ? {} : { ttl: this.#ttl },
      )
    } catch (error) {
      // A key the store cannot have (set(7, …), one too long, or one the prefix puts in another
      // primitive's place) can never be saved: this save fails with it, once, and the visitor
      // is forgotten, or every later save() would fail with it.
      if ((error as { code?: unknown }).code === 'ERR_INVALID_KEY') this.#visitors.delete(key)
      throw error
    }
    // The SDK may have written again while we were saving: keep those changes pending.
    const later = changesSince(mergeNewest(visitor.base, changes), visitor.current)
    visitor.base = saved ?? undefined
    visitor.current = mergeNewest(visitor.base, later)
  }

  /** Keeps the newest visitors; forgets the oldest ones that have nothing left to save. */
  #remember(key: string, visitor: Visitor): void {
    this.#visitors.delete(key)
    this.#visitors.set(key, visitor)
    if (this.#visitors.size <= this.#max) return
    for (const [oldKey, old] of this.#visitors) {
      if (this.#visitors.size <= this.#max) break
      if (changesSince(old.base, old.current) === undefined && !old.refused) this.#visitors.delete(oldKey)
    }
  }
}

/** A Convert SDK DataStore backed by a fleet's Store (SPEC §2, `redfleet/convert`). */
export function convertDataStore(fleet: Fleet, options: ConvertDataStoreOptions = {}): ConvertDataStore {
  if (!isFleet(fleet)) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `convertDataStore: the first argument must be a fleet made by createFleet, got ${describeValue(fleet)}`,
    )
  }
  // Checked here, not at the first save: a bad ttl would fail every save, a misspelt prefix
  // would put the visitors somewhere else, and both only after the requests that lost them.
  checkOptions(options, CONVERT_OPTIONS, { what: 'convertDataStore options' })
  const store = fleet.store<Json>({ prefix: options.prefix ?? 'convert:' })
  // failsafe() of it warns through the fleet's warnings, as of the store itself.
  return shareWarnings(
    new FleetConvertDataStore(store, options.ttl, options.maxVisitors ?? 10_000),
    warningsOf(store),
  )
}

const CONVERT_OPTIONS: OptionSchema = {
  prefix: stringOption,
  ttl: numberOption({ min: 1, integer: true }),
  maxVisitors: numberOption({ min: 1, integer: true }),
}
