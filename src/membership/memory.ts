import { replyError, WRONGTYPE } from '../errors.ts'
import type { MemoryKeyspace } from '../topology/memory.ts'
import type { MembershipBackend } from './backend.ts'

/** Member id → expiry (ms since epoch), the in-process sorted set. */
class Members extends Map<string, number> {}

/** Liveness in process memory, in the process keyspace shared by every memory fleet. */
export class MemoryMembershipBackend implements MembershipBackend {
  constructor(private readonly memory: MemoryKeyspace) {}

  #members(key: string): Members | undefined {
    const value = this.memory.get<unknown>(key)
    if (value === undefined) return undefined
    if (!(value instanceof Members)) throw replyError(WRONGTYPE)
    return value
  }

  async heartbeat(key: string, id: string, ttl: number): Promise<void> {
    const now = Date.now()
    let members = this.#members(key)
    if (!members) {
      members = new Members()
      this.memory.set(key, members, ttl)
    }
    // From the heartbeat's millisecond rounded up, as the Redis script counts: Date.now() rounds
    // down, and a member was seen dead up to 1 ms before its ttl had passed.
    const expiresAt = now + 1 + ttl
    members.set(id, expiresAt)
    for (const [member, memberExpiry] of members) if (memberExpiry <= now) members.delete(member)
    // The set lives as long as its longest-lived member, as the Redis script arranges.
    if (this.memory.pttl(key) < expiresAt - now) this.memory.expire(key, expiresAt - now)
  }

  async leave(key: string, id: string): Promise<void> {
    this.#members(key)?.delete(id)
  }

  async live(key: string): Promise<string[]> {
    const now = Date.now()
    return [...(this.#members(key) ?? [])].filter(([, expiresAt]) => expiresAt > now).map(([id]) => id)
  }
}
