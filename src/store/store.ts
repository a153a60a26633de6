import { decodeJson, encodeJson } from '../codec.ts'
import { type FleetContext, type OperationPolicy, operationPolicy, runOperation } from '../context.ts'
import { ConflictError } from '../errors.ts'
import { assertKey } from '../keyspace.ts'
import type { RetryOptions } from '../retry.ts'
import type { StoreBackend } from './backend.ts'
import { MemoryStoreBackend } from './memory.ts'
import { RedisStoreBackend } from './redis.ts'

export interface StoreOptions {
  /** Prefix inside the fleet namespace; default 'store:'. Keys are `${namespace}:${prefix}${key}`. */
  prefix?: string
  retry?: RetryOptions
  /** Called once when an operation fails after its last attempt. */
  onError?: (e: unknown) => void
}

/** JSON key/value with TTL, atomic claim, counter and read-modify-write (SPEC §2). */
export interface Store<V> {
  get(key: string): Promise<V | undefined>
  set(key: string, value: V, o?: { ttl?: number }): Promise<void>
  /** True if the key existed. */
  delete(key: string): Promise<boolean>
  /** Atomic claim: writes only if the key is missing; true if this call wrote it. */
  setIfNotExists(key: string, value: V, o?: { ttl?: number }): Promise<boolean>
  /** Atomic add (by = 1); `ttl` applies only when the key has none, and is never extended. */
  increment(key: string, by?: number, o?: { ttl?: number }): Promise<number>
  /**
   * Atomic read-modify-write across processes (optimistic compare-and-set, retried on
   * conflict). Returning undefined deletes. Without `ttl` the key keeps its expiry.
   */
  update(
    key: string,
    fn: (current: V | undefined) => V | undefined,
    o?: { ttl?: number },
  ): Promise<V | undefined>
  getMany(keys: string[]): Promise<(V | undefined)[]>
  setMany(entries: [string, V][], o?: { ttl?: number }): Promise<void>
}

/** Most times `update` re-reads after losing a race before it gives up with ConflictError. */
const MAX_UPDATE_ATTEMPTS = 1000

function assertTtl(op: string, ttl: unknown): number | undefined {
  if (ttl === undefined) return undefined
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0) {
    throw new TypeError(`${op}: ttl must be a positive integer of milliseconds, got ${String(ttl)}`)
  }
  return ttl
}

class FleetStore<V> implements Store<V> {
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  readonly #prefix: string
  readonly #backend: StoreBackend
  /** Per-key queue of this process' updates: they would only race each other otherwise. */
  readonly #updates = new Map<string, Promise<unknown>>()

  constructor(ctx: FleetContext, options: StoreOptions) {
    this.#ctx = ctx
    this.#policy = operationPolicy(ctx, options)
    this.#prefix = ctx.keys.key(options.prefix ?? 'store:')
    this.#backend =
      ctx.topology === 'memory'
        ? new MemoryStoreBackend(ctx.memory)
        : new RedisStoreBackend(() => ctx.redis())
  }

  #key(op: string, key: unknown): string {
    assertKey(key, `store.${op}`)
    return this.#prefix + key
  }

  #run<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    return runOperation(this.#ctx, this.#policy, `store.${op}`, key, fn)
  }

  async get(key: string): Promise<V | undefined> {
    const full = this.#key('get', key)
    return decodeJson<V>(await this.#run('get', key, () => this.#backend.get(full)), 'store.get', key)
  }

  async set(key: string, value: V, o?: { ttl?: number }): Promise<void> {
    const full = this.#key('set', key)
    const text = encodeJson(value, 'store.set', key)
    const ttl = assertTtl('store.set', o?.ttl)
    await this.#run('set', key, () => this.#backend.set(full, text, ttl))
  }

  async delete(key: string): Promise<boolean> {
    const full = this.#key('delete', key)
    return this.#run('delete', key, () => this.#backend.delete(full))
  }

  async setIfNotExists(key: string, value: V, o?: { ttl?: number }): Promise<boolean> {
    const full = this.#key('setIfNotExists', key)
    const text = encodeJson(value, 'store.setIfNotExists', key)
    const ttl = assertTtl('store.setIfNotExists', o?.ttl)
    return this.#run('setIfNotExists', key, () => this.#backend.setIfNotExists(full, text, ttl))
  }

  async increment(key: string, by = 1, o?: { ttl?: number }): Promise<number> {
    const full = this.#key('increment', key)
    if (typeof by !== 'number' || !Number.isFinite(by)) {
      throw new TypeError(`store.increment: by must be a finite number, got ${String(by)}`)
    }
    const ttl = assertTtl('store.increment', o?.ttl)
    return this.#run('increment', key, () => this.#backend.increment(full, by, ttl))
  }

  update(
    key: string,
    fn: (current: V | undefined) => V | undefined,
    o?: { ttl?: number },
  ): Promise<V | undefined> {
    let full: string
    let ttl: number | undefined
    try {
      full = this.#key('update', key)
      if (typeof fn !== 'function') throw new TypeError('store.update: fn must be a function')
      ttl = assertTtl('store.update', o?.ttl)
    } catch (error) {
      return Promise.reject(error)
    }
    const previous = this.#updates.get(full) ?? Promise.resolve()
    const next = previous.then(
      () => this.#run('update', key, () => this.#compareAndSwapLoop(key, full, fn, ttl)),
      () => this.#run('update', key, () => this.#compareAndSwapLoop(key, full, fn, ttl)),
    )
    this.#updates.set(full, next)
    const forget = () => {
      if (this.#updates.get(full) === next) this.#updates.delete(full)
    }
    next.then(forget, forget)
    return next
  }

  async #compareAndSwapLoop(
    key: string,
    full: string,
    fn: (current: V | undefined) => V | undefined,
    ttl: number | undefined,
  ): Promise<V | undefined> {
    for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
      const before = (await this.#backend.get(full)) ?? undefined
      const result = fn(decodeJson<V>(before, 'store.update', key))
      if (result === undefined && before === undefined) return undefined
      const after = result === undefined ? undefined : encodeJson(result, 'store.update', key)
      if (await this.#backend.compareAndSet(full, before, after, ttl)) return result
      // Lost the race to another process: back off a little (randomised, growing) and re-read.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(attempt, 20)))
    }
    throw new ConflictError(`store.update '${key}': gave up after ${MAX_UPDATE_ATTEMPTS} conflicting writes`)
  }

  async getMany(keys: string[]): Promise<(V | undefined)[]> {
    if (!Array.isArray(keys)) throw new TypeError('store.getMany: keys must be an array')
    const full = keys.map((key) => this.#key('getMany', key))
    if (full.length === 0) return []
    const texts = await this.#run('getMany', undefined, () => this.#backend.getMany(full))
    return texts.map((text, i) => decodeJson<V>(text, 'store.getMany', keys[i]!))
  }

  async setMany(entries: [string, V][], o?: { ttl?: number }): Promise<void> {
    if (!Array.isArray(entries))
      throw new TypeError('store.setMany: entries must be an array of [key, value]')
    const ttl = assertTtl('store.setMany', o?.ttl)
    const encoded = entries.map(([key, value]): [string, string] => [
      this.#key('setMany', key),
      encodeJson(value, 'store.setMany', key),
    ])
    if (encoded.length === 0) return
    await this.#run('setMany', undefined, () => this.#backend.setMany(encoded, ttl))
  }
}

export function createStore<V>(ctx: FleetContext, options: StoreOptions = {}): Store<V> {
  if (options.prefix !== undefined && (typeof options.prefix !== 'string' || /[{}]/.test(options.prefix))) {
    throw new TypeError('store: prefix must be a string without braces')
  }
  return new FleetStore<V>(ctx, options)
}
