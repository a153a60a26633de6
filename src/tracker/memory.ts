import type { MemoryKeyspace } from '../topology/memory.ts'
import type { Completion, Liveness, TrackerBackend } from './backend.ts'
import type { SessionKeys } from './keys.ts'

/**
 * The tracker in process memory, shared by every memory fleet of the process (as processes
 * share one Redis). Each method runs synchronously inside, hence atomically, and mirrors the
 * Redis scripts step for step (an empty hash is a missing key there too).
 */
export class MemoryTrackerBackend implements TrackerBackend {
  constructor(private readonly memory: MemoryKeyspace) {}

  #hash(key: string): Map<string, string> | undefined {
    const value = this.memory.get<unknown>(key)
    return value instanceof Map ? (value as Map<string, string>) : undefined
  }

  #hashFor(key: string): Map<string, string> {
    let hash = this.#hash(key)
    if (!hash) {
      hash = new Map()
      this.memory.set(key, hash)
    }
    return hash
  }

  /** HDEL: how many of `fields` were there. */
  #hdel(key: string, fields: readonly string[]): number {
    const hash = this.#hash(key)
    if (!hash) return 0
    let removed = 0
    for (const field of fields) if (hash.delete(field)) removed++
    if (hash.size === 0) this.memory.delete(key)
    return removed
  }

  async heartbeat(
    keys: SessionKeys,
    sessionId: string,
    instanceId: string,
    lastSeen: number,
    ttl: number,
  ): Promise<void> {
    this.#hashFor(keys.index).set(sessionId, instanceId)
    this.memory.set(keys.alive, String(lastSeen), ttl)
  }

  async record(
    keys: SessionKeys,
    sessionId: string,
    instanceId: string,
    jobId: string,
    text: string,
    alive: Liveness | undefined,
  ): Promise<void> {
    const index = this.#hashFor(keys.index)
    if (!index.has(sessionId)) index.set(sessionId, instanceId)
    this.#hashFor(keys.jobs).set(jobId, text)
    if (alive && !this.memory.has(keys.alive)) this.memory.set(keys.alive, String(alive.lastSeen), alive.ttl)
  }

  async remove(keys: SessionKeys, jobId: string): Promise<void> {
    this.#hdel(keys.jobs, [jobId])
  }

  async leave(keys: SessionKeys, sessionId: string, releaseJobIds: readonly string[]): Promise<void> {
    this.memory.delete(keys.alive)
    this.#hdel(keys.jobs, releaseJobIds)
    if (!this.memory.has(keys.jobs)) this.#hdel(keys.index, [sessionId])
  }

  async retire(keys: SessionKeys, sessionId: string): Promise<boolean> {
    if (this.memory.has(keys.alive) || this.memory.has(keys.jobs)) return false
    const listed = this.#hash(keys.index)?.has(sessionId) ?? false
    this.#hdel(keys.index, [sessionId])
    return listed
  }

  async sessions(shards: readonly string[]): Promise<Map<string, string>> {
    const all = new Map<string, string>()
    for (const shard of shards)
      for (const [id, instanceId] of this.#hash(shard) ?? []) all.set(id, instanceId)
    return all
  }

  async alive(keys: readonly SessionKeys[]): Promise<(string | undefined)[]> {
    return keys.map((k) => this.memory.get<string>(k.alive))
  }

  async jobs(keys: readonly SessionKeys[]): Promise<Map<string, string>[]> {
    return keys.map((k) => new Map(this.#hash(k.jobs)))
  }

  async claim(keys: SessionKeys, jobId: string, token: string, ttl: number): Promise<string | undefined> {
    const claim = keys.claim(jobId)
    const holder = this.memory.get<string>(claim)
    if (holder === token) return this.#hash(keys.jobs)?.get(jobId)
    if (holder !== undefined || this.memory.has(keys.alive)) return undefined
    const record = this.#hash(keys.jobs)?.get(jobId)
    if (record === undefined) return undefined
    this.memory.set(claim, token, ttl)
    return record
  }

  async complete(keys: SessionKeys, jobId: string, token: string): Promise<Completion> {
    const claim = keys.claim(jobId)
    const owner = this.memory.get<string>(claim)
    if (owner !== undefined && owner !== token) return 'taken'
    const removed = this.#hdel(keys.jobs, [jobId])
    this.memory.delete(claim)
    return removed > 0 ? 'done' : 'gone'
  }

  async release(keys: SessionKeys, jobId: string, token: string): Promise<void> {
    const claim = keys.claim(jobId)
    if (this.memory.get<string>(claim) === token) this.memory.delete(claim)
  }
}
