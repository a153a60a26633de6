import type { FleetContext } from '../context.ts'
import { withDeadline } from './deadline.ts'
import { pipelineReplies } from './replies.ts'

/** A live member: when its heartbeat runs out, and when the dashboard last saw it beat. */
export interface MemberView {
  id: string
  /** ms until its heartbeat expires (by the Redis server's clock). */
  expiresIn: number
  /** When the dashboard saw its expiry move (a heartbeat), ms since the epoch; null until it has. */
  lastHeartbeat: number | null
}

/** Member id → expiry, as src/membership keeps it (a sorted set scored by expiry ms). */
async function expiries(
  ctx: FleetContext,
  key: string,
): Promise<{ now: number; members: Map<string, number> }> {
  if (ctx.topology === 'memory') {
    const set = ctx.memory.get<unknown>(key)
    return { now: Date.now(), members: set instanceof Map ? new Map(set as Map<string, number>) : new Map() }
  }
  // TIME and the set from the node that holds it: expiries are on that server's clock.
  const client = (await ctx.redis()).client(key)
  const replies = await client.pipeline().time().zrange(key, '0', '-1', 'WITHSCORES').exec()
  const [time, flat] = pipelineReplies(replies, 'membership.live', 2) as [[string, string], string[]]
  const members = new Map<string, number>()
  for (let i = 0; i + 1 < flat.length; i += 2) members.set(flat[i]!, Number(flat[i + 1]))
  return { now: Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000), members }
}

/**
 * Live members with their expiry. A member's score only moves when it heartbeats, so each
 * read that finds a new score for a member records "heartbeat seen now": the time since the
 * last heartbeat is known to within one sampling interval, whatever ttl the member uses.
 */
export class MemberWatch {
  readonly #seen = new Map<string, { expiry: number; at: number | null }>()

  constructor(
    private readonly ctx: FleetContext,
    private readonly deadline: number,
  ) {}

  async read(): Promise<MemberView[]> {
    const key = this.ctx.keys.key('membership', 'live')
    const { now, members } = await withDeadline(expiries(this.ctx, key), this.deadline, 'reading members')
    const views: MemberView[] = []
    for (const [id, expiry] of members) {
      if (expiry <= now) continue
      const before = this.#seen.get(id)
      const seen = {
        expiry,
        at: before === undefined ? null : before.expiry === expiry ? before.at : Date.now(),
      }
      this.#seen.set(id, seen)
      views.push({ id, expiresIn: expiry - now, lastHeartbeat: seen.at })
    }
    for (const id of this.#seen.keys()) if (!members.has(id)) this.#seen.delete(id)
    return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }
}
