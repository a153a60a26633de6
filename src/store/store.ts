import { assertCodec, type Codec, type TextCodec, textCodec } from '../codec.ts'
import {
  type FleetContext,
  type OperationPolicy,
  operationPolicy,
  runCommand,
  traceScope,
} from '../context.ts'
import { assertWaitFor, type Durability, durabilityOf, waitForOption } from '../durability.ts'
import type { WaitFor } from '../errors.ts'
import { assertKey } from '../keyspace.ts'
import type { RetryOptions } from '../retry.ts'
import { PrimitiveTracer } from '../telemetry.ts'
import {
  assertCallOptions,
  assertTtl,
  checkOptions,
  describeValue,
  functionOption,
  invalidArgument,
  invalidOption,
  isWellFormed,
  LONE_SURROGATE,
  retryOption,
  stringOption,
} from '../validate.ts'
import type { StoreBackend } from './backend.ts'
import { MemoryStoreBackend } from './memory.ts'
import type { KeyOrder } from './order.ts'
import { RedisStoreBackend } from './redis.ts'
import { newToken, tokenKey, tokenLifetime } from './tokens.ts'
import { updateAttempts } from './update.ts'

export interface StoreOptions {
  /** Prefix inside the fleet namespace; default 'store:'. Keys are `${namespace}:${prefix}${key}`. */
  prefix?: string | undefined
  retry?: RetryOptions | undefined
  /** Called once when an operation fails after its last attempt. */
  onError?: ((e: unknown) => void) | undefined
  /** Replaces strict JSON (e.g. to keep Dates): text in Redis, values in and out. */
  codec?: Codec | undefined
  /** Durability of every write (SPEC §10), unless a call gives its own `waitFor`. */
  waitFor?: WaitFor | undefined
}

/** Options of a write: its TTL in ms, and its durability (overrides `StoreOptions.waitFor`). */
export interface StoreWriteOptions {
  ttl?: number | undefined
  waitFor?: WaitFor | undefined
}

/** JSON key/value with TTL, atomic claim, counter and read-modify-write (SPEC §2). */
export interface Store<V> {
  get(key: string): Promise<V | undefined>
  set(key: string, value: V, o?: StoreWriteOptions): Promise<void>
  /** True if the key existed. */
  delete(key: string): Promise<boolean>
  /** Atomic claim: writes only if the key is missing; true if this call wrote it. */
  setIfNotExists(key: string, value: V, o?: StoreWriteOptions): Promise<boolean>
  /** Atomic add (by = 1); `ttl` applies only when the key has none, and is never extended. */
  increment(key: string, by?: number, o?: StoreWriteOptions): Promise<number>
  /**
   * Atomic read-modify-write across processes (optimistic compare-and-set, retried on
   * conflict). `fn` may be async. Returning undefined deletes. Without `ttl` the key keeps its expiry.
   */
  update(
    key: string,
    fn: (current: V | undefined) => V | undefined | Promise<V | undefined>,
    o?: StoreWriteOptions,
  ): Promise<V | undefined>
  getMany(keys: string[]): Promise<(V | undefined)[]>
  setMany(entries: [string, V][], o?: StoreWriteOptions): Promise<void>
}

const STORE_OPTIONS = {
  prefix: stringOption,
  retry: retryOption,
  onError: functionOption,
  codec: (value: unknown, name: string) => assertCodec(value, name),
  waitFor: waitForOption,
}

class FleetStore<V> implements Store<V> {
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  readonly #tracer: PrimitiveTracer
  readonly #prefix: string
  readonly #checkedPrefix: string | undefined
  readonly #backend: StoreBackend
  readonly #values: TextCodec
  readonly #waitFor: WaitFor | undefined
  readonly #order: KeyOrder
  readonly #tokenTtl: number

  constructor(ctx: FleetContext, options: StoreOptions) {
    this.#ctx = ctx
    this.#order = ctx.order.store
    this.#policy = operationPolicy(ctx, options)
    this.#tracer = new PrimitiveTracer('store', traceScope(ctx))
    this.#prefix = ctx.keys.key(options.prefix ?? 'store:')
    // Outside the stores' own places a key may finish a place of the fleet's or of a view's
    // (`'' + 'cache:x'`, `'eu:' + 'cache:x'`): each key is checked.
    if (options.prefix !== undefined && !ctx.keys.inside(options.prefix, STORES))
      this.#checkedPrefix = options.prefix
    this.#values = textCodec(options.codec)
    this.#waitFor = options.waitFor
    this.#tokenTtl = tokenLifetime(this.#policy.retry.attempts, this.#policy.retry.max, ctx.commandTimeout)
    this.#backend =
      ctx.topology === 'memory' ? new MemoryStoreBackend(ctx.memory) : new RedisStoreBackend(ctx.redisHandle)
  }

  #key(op: string, key: unknown): string {
    assertKey(key, `store.${op}`)
    if (this.#checkedPrefix !== undefined) this.#assertOwnPlace(op, key)
    return this.#prefix + key
  }

  /** A key that, after a prefix outside the stores' places, would land where a primitive keeps its keys. */
  #assertOwnPlace(op: string, key: string): void {
    const problem = this.#ctx.keys.placeProblem(this.#checkedPrefix + key, STORES, true)
    if (problem === undefined) return
    throw invalidArgument(
      'ERR_INVALID_KEY',
      `store.${op}: key '${key}' after the prefix '${this.#checkedPrefix}' would be stored ${problem}: ` +
        `choose another key, or another prefix`,
    )
  }

  /** A write's `ttl`, its options checked first (an object of known names). */
  #ttl(op: string, o: StoreWriteOptions | undefined): number | undefined {
    assertCallOptions(o, `store.${op}`, WRITE_OPTIONS)
    return assertTtl(o?.ttl, `store.${op}`)
  }

  /** The durability a write of `key` asks for: its own `waitFor`, else the store's. */
  #durability(op: string, o: StoreWriteOptions | undefined, key?: string): Durability | undefined {
    const where = key === undefined ? `store.${op}` : `store.${op} '${key}'`
    const own = assertWaitFor(o?.waitFor, `store.${op}`)
    const durability = this.#ctx.topology === 'memory' ? undefined : durabilityOf(own ?? this.#waitFor)
    return durability && { ...durability, where }
  }

  /**
   * Runs one operation on `full` keys in call order (see KeyOrder). `update`: it holds its key
   * while the caller's fn runs, and the fn's own calls on the key are part of it.
   */
  #run<T>(
    op: string,
    key: string | undefined,
    full: string | string[],
    fn: (written: () => void) => Promise<T>,
    update = false,
  ) {
    return this.#order.run(
      full,
      (written, overtaken) =>
        runCommand(this.#ctx, this.#policy, `store.${op}`, key, () => fn(written), overtaken),
      update || !this.#backend.sendsAtOnce(typeof full !== 'string'),
      update,
      READS.has(op),
    )
  }

  /** What a call with nothing to send answers, unless the fleet is closed: every call refuses then. */
  #nothingToDo<T>(op: string, answer: T): T {
    this.#ctx.lifecycle.assertOpen(`store.${op}`)
    return answer
  }

  /** Traces one public call `op` (`store.<method>`, SPEC §11), validation errors included. */
  get(key: string): Promise<V | undefined> {
    return this.#tracer.run(
      'get',
      () => ({ key }),
      () => this.#get(key),
    )
  }

  set(key: string, value: V, o?: StoreWriteOptions): Promise<void> {
    return this.#tracer.run(
      'set',
      () => ({ key }),
      () => this.#set(key, value, o),
    )
  }

  delete(key: string): Promise<boolean> {
    return this.#tracer.run(
      'delete',
      () => ({ key }),
      () => this.#delete(key),
    )
  }

  setIfNotExists(key: string, value: V, o?: StoreWriteOptions): Promise<boolean> {
    return this.#tracer.run(
      'setIfNotExists',
      () => ({ key }),
      () => this.#setIfNotExists(key, value, o),
    )
  }

  increment(key: string, by = 1, o?: StoreWriteOptions): Promise<number> {
    return this.#tracer.run(
      'increment',
      () => ({ key }),
      () => this.#increment(key, by, o),
    )
  }

  update(
    key: string,
    fn: (current: V | undefined) => V | undefined | Promise<V | undefined>,
    o?: StoreWriteOptions,
  ): Promise<V | undefined> {
    return this.#tracer.run(
      'update',
      () => ({ key }),
      () => this.#update(key, fn, o),
    )
  }

  getMany(keys: string[]): Promise<(V | undefined)[]> {
    return this.#tracer.run(
      'getMany',
      () => ({ keys: namesOf(keys) }),
      () => this.#getMany(keys),
    )
  }

  setMany(entries: [string, V][], o?: StoreWriteOptions): Promise<void> {
    const keys = () => ({ keys: namesOf(Array.isArray(entries) ? entries.map((e) => e?.[0]) : entries) })
    return this.#tracer.run('setMany', keys, () => this.#setMany(entries, o))
  }

  #get(key: string): Promise<V | undefined> {
    let full: string
    try {
      full = this.#key('get', key)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#run('get', key, full, () => this.#backend.get(full)).then((text) =>
      this.#values.decode<V>(text, 'store.get', key),
    )
  }

  #set(key: string, value: V, o?: StoreWriteOptions): Promise<void> {
    let full: string
    let text: string
    let ttl: number | undefined
    let durability: Durability | undefined
    try {
      full = this.#key('set', key)
      text = this.#values.encode(value, 'store.set', key)
      ttl = this.#ttl('set', o)
      durability = this.#durability('set', o, key)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#run('set', key, full, () => this.#backend.set(full, text, ttl, durability)).then(nothing)
  }

  async #delete(key: string): Promise<boolean> {
    const full = this.#key('delete', key)
    return this.#run('delete', key, full, () => this.#backend.delete(full))
  }

  async #setIfNotExists(key: string, value: V, o?: StoreWriteOptions): Promise<boolean> {
    const full = this.#key('setIfNotExists', key)
    const text = this.#values.encode(value, 'store.setIfNotExists', key)
    const ttl = this.#ttl('setIfNotExists', o)
    const claim = {
      key: full,
      tokenKey: tokenKey(this.#ctx.keys.prefix, full),
      // One token per call, the same on every send: a repeated send recognises its own win.
      token: newToken(),
      tokenTtl: ttl === undefined ? this.#tokenTtl : Math.min(ttl, this.#tokenTtl),
      text,
      ttl,
      durability: this.#durability('setIfNotExists', o, key),
    }
    return this.#run('setIfNotExists', key, full, () => this.#backend.claim(claim))
  }

  async #increment(key: string, by = 1, o?: StoreWriteOptions): Promise<number> {
    const full = this.#key('increment', key)
    // A whole step past 2^53 - 1 is not the number the caller wrote: refused, not rounded.
    if (
      typeof by !== 'number' ||
      !Number.isFinite(by) ||
      (Number.isInteger(by) && !Number.isSafeInteger(by))
    ) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `store.increment: by must be a finite number, a whole one within ±(2^53 - 1), got ${describeValue(by)}`,
      )
    }
    const ttl = this.#ttl('increment', o)
    const durability = this.#durability('increment', o, key)
    return this.#run('increment', key, full, () => this.#backend.increment(full, by, ttl, durability))
  }

  async #update(
    key: string,
    fn: (current: V | undefined) => V | undefined | Promise<V | undefined>,
    o?: StoreWriteOptions,
  ): Promise<V | undefined> {
    const full = this.#key('update', key)
    if (typeof fn !== 'function')
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `store.update: fn must be a function, got ${describeValue(fn)}`,
      )
    const attempts = updateAttempts<V>({
      backend: this.#backend,
      values: this.#values,
      key,
      full,
      tokenKey: tokenKey(this.#ctx.keys.prefix, full),
      tokenTtl: this.#tokenTtl,
      fn,
      ttl: this.#ttl('update', o),
      durability: this.#durability('update', o, key),
      assertOpen: () => this.#ctx.lifecycle.assertOpen(`store.update '${key}'`),
    })
    // Holds the key from the read to the write: a later call on it waits for the whole update.
    return this.#run('update', key, full, attempts, true)
  }

  async #getMany(keys: string[]): Promise<(V | undefined)[]> {
    if (!Array.isArray(keys))
      throw invalidArgument('ERR_INVALID_ARGUMENT', 'store.getMany: keys must be an array')
    // Array.from, not map: a hole in the array is a key like any other (undefined: refused).
    const full = Array.from(keys, (key) => this.#key('getMany', key))
    if (full.length === 0) return this.#nothingToDo('getMany', [])
    const texts = await this.#run('getMany', undefined, full, (written) =>
      this.#backend.getMany(full, written),
    )
    return texts.map((text, i) => this.#values.decode<V>(text, 'store.getMany', keys[i]!))
  }

  async #setMany(entries: [string, V][], o?: StoreWriteOptions): Promise<void> {
    // An entry that is not a pair (a string would be read as [first char, second char], a third
    // element would be dropped unseen) is a bad argument.
    if (!Array.isArray(entries) || !isEveryPair(entries)) {
      throw invalidArgument(
        'ERR_INVALID_ARGUMENT',
        `store.setMany: entries must be an array of [key, value] pairs, ${describeEntries(entries)}`,
      )
    }
    const ttl = this.#ttl('setMany', o)
    const encoded = entries.map(([key, value]): [string, string] => [
      this.#key('setMany', key),
      this.#values.encode(value, 'store.setMany', key),
    ])
    if (encoded.length === 0) return this.#nothingToDo('setMany', undefined)
    const durability = this.#durability('setMany', o)
    const full = encoded.map(([fullKey]) => fullKey)
    await this.#run('setMany', undefined, full, (written) =>
      this.#backend.setMany(encoded, ttl, durability, written),
    )
  }
}

/** Every entry is a [key, value] pair; an index loop, as `some` and `every` skip an array's holes. */
function isEveryPair(entries: unknown[]): boolean {
  for (let i = 0; i < entries.length; i++) if (!isPair(entries[i])) return false
  return true
}

function isPair(entry: unknown): boolean {
  return Array.isArray(entry) && entry.length === 2
}

/** What a setMany was given instead of pairs: the first entry that is not one, or the whole. */
function describeEntries(entries: unknown): string {
  if (!Array.isArray(entries)) return `got ${describeValue(entries)}`
  const at = entries.findIndex((entry) => !isPair(entry))
  const entry: unknown = entries[at]
  return `but entries[${at}] ${Array.isArray(entry) ? `has ${entry.length} elements` : `is ${describeValue(entry)}`}`
}

/** The store's calls that only read: a retry of an earlier write is not overtaken by them (KeyOrder). */
const READS: ReadonlySet<string> = new Set(['get', 'getMany'])

/** The options of a store write (SPEC §2, §10). */
const WRITE_OPTIONS = ['ttl', 'waitFor'] as const

/** The keys a call names, for its trace: its strings only (whatever else it was given is not a name). */
function namesOf(keys: unknown): string[] {
  return Array.isArray(keys) ? keys.filter((key): key is string => typeof key === 'string') : []
}

/** Where stores keep their keys: the default prefix's, and convertDataStore's. */
const STORES: ReadonlySet<string> = new Set(['store', 'convert'])

/** A store of the fleet; bad options are a ConfigError here. */
export function createStore<V>(ctx: FleetContext, options: StoreOptions = {}): Store<V> {
  checkOptions(options, STORE_OPTIONS, { what: 'store options' })
  if (options.prefix !== undefined && /[{}]/.test(options.prefix)) {
    throw invalidOption(`store: prefix must not contain braces, got ${JSON.stringify(options.prefix)}`)
  }
  if (options.prefix !== undefined && !isWellFormed(options.prefix)) {
    throw invalidOption(`store: prefix ${LONE_SURROGATE}`)
  }
  if (options.prefix !== undefined) {
    ctx.keys.assertOwnPlace(
      options.prefix,
      `store: prefix '${options.prefix}' would put the store's keys`,
      STORES,
    )
  }
  return new FleetStore<V>(ctx, options)
}

/** What a write resolves (the reply is not the caller's). */
function nothing(): void {}
