import type { TopologyHandle } from '../topology/handle.ts'
import { getPerBatch } from '../topology/pipeline.ts'
import type { Completion, Liveness, TrackerBackend } from './backend.ts'
import type { SessionKeys } from './keys.ts'
import { CLAIM_3, COMPLETE_2, HEARTBEAT_2, LEAVE_3, RECORD_3, RELEASE_1, RETIRE_3 } from './scripts.ts'

/**
 * The tracker on Redis. Each per-session step is one script on the node of the session's index
 * shard (they share a hash tag); reads over many sessions go as one pipeline per node. Nothing
 * uses KEYS or SCAN: the index shards are the one place that lists sessions.
 */
export class RedisTrackerBackend implements TrackerBackend {
  readonly #topology: TopologyHandle

  /** `topology`: the fleet's one hold on it (FleetContext.redisHandle). */
  constructor(topology: TopologyHandle) {
    this.#topology = topology
  }

  #client(key: string) {
    return this.#topology.client(key)
  }

  async heartbeat(
    keys: SessionKeys,
    sessionId: string,
    instanceId: string,
    lastSeen: number,
    ttl: number,
  ): Promise<void> {
    const client = await this.#client(keys.index)
    await HEARTBEAT_2.run(client, [keys.index, keys.alive], [sessionId, instanceId, lastSeen, ttl])
  }

  async record(
    keys: SessionKeys,
    sessionId: string,
    instanceId: string,
    jobId: string,
    text: string,
    alive: Liveness | undefined,
  ): Promise<void> {
    const client = await this.#client(keys.index)
    await RECORD_3.run(
      client,
      [keys.index, keys.jobs, keys.alive],
      [sessionId, instanceId, jobId, text, alive?.lastSeen ?? '', alive?.ttl ?? ''],
    )
  }

  async remove(keys: SessionKeys, jobId: string): Promise<void> {
    await (await this.#client(keys.jobs)).hdel(keys.jobs, jobId)
  }

  async leave(keys: SessionKeys, sessionId: string, releaseJobIds: readonly string[]): Promise<void> {
    const client = await this.#client(keys.index)
    await LEAVE_3.run(client, [keys.index, keys.alive, keys.jobs], [sessionId, ...releaseJobIds])
  }

  async retire(keys: SessionKeys, sessionId: string): Promise<boolean> {
    const client = await this.#client(keys.index)
    return (await RETIRE_3.run(client, [keys.index, keys.alive, keys.jobs], [sessionId])) === 1
  }

  async sessions(shards: readonly string[]): Promise<Map<string, string>> {
    const topology = await this.#topology.get()
    const batches = await topology.batches(shards)
    const replies = await topology.pipeline(
      batches,
      (pipe, batch) => {
        for (const key of batch.keys) pipe.hgetall(key)
      },
      'read',
    )
    const all = new Map<string, string>()
    for (const shardReplies of replies) {
      for (const fields of shardReplies) {
        for (const [id, instanceId] of Object.entries((fields ?? {}) as Record<string, string>)) {
          all.set(id, instanceId)
        }
      }
    }
    return all
  }

  async alive(keys: readonly SessionKeys[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return []
    const values = await getPerBatch(
      await this.#topology.get(),
      keys.map((k) => k.alive),
    )
    return values.map((value) => value ?? undefined)
  }

  async jobs(keys: readonly SessionKeys[]): Promise<Map<string, string>[]> {
    if (keys.length === 0) return []
    const topology = await this.#topology.get()
    const batches = await topology.batches(keys.map((k) => k.jobs))
    const replies = await topology.pipeline(
      batches,
      (pipe, batch) => {
        for (const key of batch.keys) pipe.hgetall(key)
      },
      'read',
    )
    const out = new Array<Map<string, string>>(keys.length)
    batches.forEach((batch, i) => {
      batch.indexes.forEach((index, n) => {
        out[index] = new Map(Object.entries((replies[i]![n] ?? {}) as Record<string, string>))
      })
    })
    return out
  }

  async claim(keys: SessionKeys, jobId: string, token: string, ttl: number): Promise<string | undefined> {
    const claim = keys.claim(jobId)
    const client = await this.#client(keys.alive)
    const reply = await CLAIM_3.run(client, [keys.alive, keys.jobs, claim], [jobId, token, ttl])
    return reply === null ? undefined : String(reply)
  }

  async complete(keys: SessionKeys, jobId: string, token: string): Promise<Completion> {
    const client = await this.#client(keys.jobs)
    const reply = await COMPLETE_2.run(client, [keys.jobs, keys.claim(jobId)], [jobId, token])
    return reply === 1 ? 'done' : reply === 0 ? 'taken' : 'gone'
  }

  async release(keys: SessionKeys, jobId: string, token: string): Promise<void> {
    const claim = keys.claim(jobId)
    await RELEASE_1.run(await this.#client(claim), [claim], [token])
  }
}
