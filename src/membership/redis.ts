import { scriptFile } from '../topology/script.ts'
import type { RedisTopology } from '../topology/types.ts'
import type { MembershipBackend } from './backend.ts'

/** ZADD with expiry on the server's clock; drops the expired. */
const HEARTBEAT = scriptFile(new URL('./lua/heartbeat-1.lua', import.meta.url))
/** Members whose expiry is after now, on the server's clock. */
const LIVE = scriptFile(new URL('./lua/live-members-1.lua', import.meta.url))

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
