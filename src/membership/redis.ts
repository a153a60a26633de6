import { Script } from '../topology/script.ts'
import type { RedisTopology } from '../topology/types.ts'
import type { MembershipBackend } from './backend.ts'

// Both scripts read the clock with TIME on the server, so that members on machines whose
// clocks disagree still expire exactly ttl after their last heartbeat.
const NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`

/**
 * ZADD the member with score now + ttl, drop members already expired (so the set never grows
 * with the dead), and keep the key itself alive as long as its longest-lived member.
 * KEYS: members set. ARGV: id, ttl.
 */
const HEARTBEAT = new Script(`${NOW}
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 0`)

/** Members whose expiry is after now. KEYS: members set. */
const LIVE = new Script(`${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`)

/** Liveness on Redis: one sorted set (one key, so one node on every topology). */
export class RedisMembershipBackend implements MembershipBackend {
  constructor(private readonly topology: () => Promise<RedisTopology>) {}

  async heartbeat(key: string, id: string, ttl: number): Promise<void> {
    await HEARTBEAT.run(await (await this.topology()).client(key), [key], [id, ttl])
  }

  async leave(key: string, id: string): Promise<void> {
    await (await (await this.topology()).client(key)).zrem(key, id)
  }

  async live(key: string): Promise<string[]> {
    const ids = await LIVE.run(await (await this.topology()).client(key), [key], [])
    return (ids as unknown[]).map(String)
  }
}
