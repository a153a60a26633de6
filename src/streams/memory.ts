import { replyError, WRONGTYPE } from '../errors.ts'
import type { MemoryKeyspace } from '../topology/memory.ts'
import {
  type ClaimedEntry,
  type ClaimResult,
  type GroupLag,
  NO_CAP,
  type OnceWrite,
  type StreamBackend,
  type StreamWrite,
} from './backend.ts'
import type { RawEntry } from './entry.ts'
import { compareIds, START_ID } from './ids.ts'
import { AppendWaiters, type MemoryEntry, type MemoryGroup, MemoryStream } from './memory-stream.ts'
import { publishIdOf, RESEND_WINDOW } from './publish-ids.ts'

/** One set of waiters per keyspace, shared by every memory fleet using it. */
const waitersOf = new WeakMap<MemoryKeyspace, AppendWaiters>()

function raw(entry: MemoryEntry): RawEntry {
  return { id: entry.id, fields: entry.fields }
}

/**
 * The streams in process memory, kept in the process keyspace (so every memory fleet of the
 * process shares them, as every process shares one Redis). Each method runs synchronously
 * inside, hence atomically, and mirrors the Redis command it stands for, errors included.
 */
export class MemoryStreamBackend implements StreamBackend {
  readonly #waiters: AppendWaiters

  constructor(private readonly memory: MemoryKeyspace) {
    let waiters = waitersOf.get(memory)
    if (!waiters) {
      waiters = new AppendWaiters()
      waitersOf.set(memory, waiters)
    }
    this.#waiters = waiters
  }

  /** One process's memory has no slot map to re-read. */
  loopFailed(): void {}

  #stream(key: string): MemoryStream | undefined {
    const value = this.memory.get<unknown>(key)
    if (value === undefined) return undefined
    if (!(value instanceof MemoryStream)) throw replyError(WRONGTYPE)
    return value
  }

  #create(key: string): MemoryStream {
    let stream = this.#stream(key)
    if (!stream) {
      stream = new MemoryStream()
      this.memory.set(key, stream)
    }
    return stream
  }

  #group(key: string, group: string): [MemoryStream, MemoryGroup] {
    const stream = this.#stream(key)
    const found = stream?.groups.get(group)
    if (!stream || !found) {
      // Redis' own reply names the stream's full key; the runner puts the caller's names before it.
      throw replyError(
        `NOGROUP No such key '${key}' or consumer group '${group}' in XREADGROUP with GROUP option`,
      )
    }
    return [stream, found]
  }

  /** Durability has nothing to wait for in memory (SPEC §10). */
  async append(writes: readonly StreamWrite[], _durable?: unknown, resend = false): Promise<string[]> {
    // Check every key first so that a WRONGTYPE leaves nothing half-written.
    for (const write of writes) this.#stream(write.key)
    const ids = writes.map((write) => {
      const stream = this.#create(write.key)
      if (resend && write.once !== undefined) {
        // As add-each-once-1.lua: an earlier send among the latest entries is the entry.
        const once = write.once
        const earlier = stream.findLatest(RESEND_WINDOW, (entry) => publishIdOf(entry.fields) === once)
        if (earlier) return earlier.id
      }
      return stream.append([...write.fields], write.maxLen)
    })
    for (const write of writes) this.#waiters.notify(write.key)
    return ids
  }

  async appendOnce(key: string, writes: readonly OnceWrite[]): Promise<string[]> {
    const stream = this.#create(key)
    // As add-each-once-1.lua: one look among the latest entries (newest first), before any is added.
    const wanted = new Set(writes.map((write) => write.once))
    const found = new Map<string, string>()
    stream.findLatest(RESEND_WINDOW, (entry) => {
      const once = publishIdOf(entry.fields)
      if (once !== undefined && wanted.has(once) && !found.has(once)) found.set(once, entry.id)
      return false
    })
    let added = false
    const ids = writes.map((write) => {
      let id = found.get(write.once)
      if (id === undefined) {
        id = stream.append([...write.fields], NO_CAP)
        found.set(write.once, id)
        added = true
      }
      return id
    })
    if (added) this.#waiters.notify(key)
    return ids
  }

  async range(key: string, afterId: string, count: number): Promise<RawEntry[]> {
    return (this.#stream(key)?.after(afterId, count) ?? []).map(raw)
  }

  async lastId(key: string): Promise<string> {
    return this.#stream(key)?.lastEntryId() ?? START_ID
  }

  async read(
    key: string,
    afterId: string,
    count: number,
    block: number,
    signal: AbortSignal,
  ): Promise<RawEntry[]> {
    const deadline = Date.now() + block
    for (;;) {
      const stream = this.#stream(key)
      const entries = stream?.after(afterId, count) ?? []
      const left = deadline - Date.now()
      if (entries.length > 0 || left <= 0 || signal.aborted) return entries.map(raw)
      await this.#waiters.wait(key, left, signal)
    }
  }

  async createGroup(key: string, group: string): Promise<boolean> {
    const stream = this.#create(key)
    if (stream.groups.has(group)) return false
    stream.groups.set(group, { lastDelivered: START_ID, pending: new Map() })
    return true
  }

  async readGroup(
    key: string,
    group: string,
    consumer: string,
    count: number,
    block: number,
    acks: readonly string[],
    signal: AbortSignal,
  ): Promise<ClaimedEntry[]> {
    if (acks.length > 0) await this.ack(key, group, acks)
    const deadline = Date.now() + block
    for (;;) {
      const [stream, state] = this.#group(key, group)
      const entries = stream.after(state.lastDelivered, count)
      if (entries.length > 0) {
        const now = Date.now()
        for (const entry of entries) {
          state.pending.set(entry.id, { consumer, deliveredAt: now, deliveries: 1 })
        }
        state.lastDelivered = entries[entries.length - 1]!.id
        return entries.map((entry) => ({ ...raw(entry), deliveries: 1 }))
      }
      const left = deadline - Date.now()
      if (left <= 0 || signal.aborted) return []
      await this.#waiters.wait(key, left, signal)
    }
  }

  async claim(
    key: string,
    group: string,
    consumer: string,
    minIdle: number,
    cursor: string,
    count: number,
  ): Promise<ClaimResult> {
    const [stream, state] = this.#group(key, group)
    const now = Date.now()
    const entries: ClaimedEntry[] = []
    // Like XAUTOCLAIM: scan at most count * 10 pending entries from the cursor, drop the ones
    // whose entry was trimmed away, and claim the idle ones.
    let scanned = 0
    let next = START_ID
    for (const [id, info] of state.pending) {
      if (compareIds(id, cursor) < 0) continue
      if (entries.length >= count || scanned >= count * 10) {
        next = id
        break
      }
      scanned++
      const entry = stream.find(id)
      if (!entry) {
        state.pending.delete(id)
        continue
      }
      if (now - info.deliveredAt < minIdle) continue
      info.consumer = consumer
      info.deliveredAt = now
      info.deliveries++
      entries.push({ ...raw(entry), deliveries: info.deliveries })
    }
    return { next, entries }
  }

  async ack(key: string, group: string, ids: readonly string[]): Promise<void> {
    const state = this.#stream(key)?.groups.get(group)
    if (!state) return
    for (const id of ids) state.pending.delete(id)
  }

  async release(
    key: string,
    group: string,
    consumer: string,
    entries: readonly ClaimedEntry[],
  ): Promise<void> {
    const state = this.#stream(key)?.groups.get(group)
    if (!state) return
    for (const entry of entries) {
      const info = state.pending.get(entry.id)
      if (info?.consumer !== consumer) continue
      info.deliveredAt = 0
      info.deliveries = Math.max(0, entry.deliveries - 1)
    }
  }

  async remove(key: string, ids: readonly string[]): Promise<number> {
    return this.#stream(key)?.remove(ids) ?? 0
  }

  async hasGroup(key: string, group: string): Promise<boolean> {
    return this.#stream(key)?.groups.has(group) ?? false
  }

  async lag(key: string, group: string): Promise<number> {
    const stream = this.#stream(key)
    const state = stream?.groups.get(group)
    return stream && state ? lagOf(stream, state) : 0
  }

  async groups(key: string): Promise<GroupLag[]> {
    // A key holding something else has no groups to show (the operator's view never throws on it).
    const stream = this.memory.get<unknown>(key)
    if (!(stream instanceof MemoryStream)) return []
    // The memory backend keeps no consumer list: count the consumers holding pending entries.
    return [...stream.groups].map(([name, group]) => ({
      name,
      pending: group.pending.size,
      consumers: new Set([...group.pending.values()].map((p) => p.consumer)).size,
      lag: lagOf(stream, group),
    }))
  }
}

/** groupLag: the entries never delivered to the group, and those pending. */
function lagOf(stream: MemoryStream, group: MemoryGroup): number {
  return stream.countAfter(group.lastDelivered) + group.pending.size
}
