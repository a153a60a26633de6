import type { FleetContext } from '../context.ts'
import { messageOf } from '../errors.ts'
import { decodeEntry } from '../streams/entry.ts'
import { compareIds } from '../streams/ids.ts'
import { memoryStream } from './counters.ts'
import { fieldsOf, numberField, pipelineReplies } from './replies.ts'

/**
 * A pending entry's idle time from which it was handed back, not left: a stopping consumer gives
 * back the entries it never started with IDLE 10^12 ms (src/streams/lua/release-unstarted-1.lua;
 * the memory backend dates their delivery at 0), so that the next claim of any consumer takes
 * them. No entry that was read has waited that long (31 years).
 */
export const HANDED_BACK_IDLE = 1_000_000_000_000

/** Pending entries listed per page of a group's drill-down. */
export const PENDING_PAGE = 100

export interface ConsumerView {
  name: string
  pending: number
  /** ms since the consumer last tried to read or claim (XINFO CONSUMERS idle). */
  idle: number | null
}

export interface PendingView {
  id: string
  consumer: string
  /** ms since it was last delivered. */
  idle: number
  deliveries: number
  /** The entry's envelope, or undefined when trimmed away or not written by redfleet. */
  envelope: Record<string, unknown> | undefined
}

export interface GroupDetail {
  stream: string
  group: string
  consumers: ConsumerView[]
  /** Pending entries after `after` (oldest first), at most PENDING_PAGE, of one consumer if asked. */
  pending: PendingView[]
  /** Whether the group exists on the stream. */
  found: boolean
}

/** Query of a group drill-down: which stream and group, optionally one consumer and a page cursor. */
export interface GroupQuery {
  stream: string
  group: string
  consumer?: string
  after?: string
}

/** The exclusive XPENDING start after `after` (Redis 6.2+ syntax `(id`). */
function startAfter(after: string | undefined): string {
  return after ? `(${after}` : '-'
}

/**
 * XINFO GROUPS of a stream that does not exist: no groups. Only that: any other failure (Redis
 * down or stalled, a key that is not a stream) is the page's, shown as every page shows one,
 * not as a group that is not there.
 */
function noStream(error: unknown): unknown[] {
  if (messageOf(error).startsWith('ERR no such key')) return []
  throw error
}

async function redisDetail(ctx: FleetContext, q: GroupQuery): Promise<GroupDetail> {
  const key = ctx.keys.prefix + q.stream
  const client = (await ctx.redis()).client(key)
  const groups = ((await client.xinfo('GROUPS', key).catch(noStream)) as unknown[]).map(fieldsOf)
  if (!groups.some((g) => String(g.get('name')) === q.group)) {
    return { stream: q.stream, group: q.group, consumers: [], pending: [], found: false }
  }
  const consumers = ((await client.xinfo('CONSUMERS', key, q.group)) as unknown[]).map(fieldsOf).map((c) => ({
    name: String(c.get('name')),
    pending: numberField(c, 'pending') ?? 0,
    idle: numberField(c, 'idle'),
  }))
  const args: (string | number)[] = [key, q.group, startAfter(q.after), '+', PENDING_PAGE]
  if (q.consumer) args.push(q.consumer)
  const rows = (await client.call('XPENDING', ...args)) as [string, string, number, number][]
  // One XRANGE per pending entry, pipelined: the payload preview of what is stuck.
  const pipe = client.pipeline()
  for (const [id] of rows) pipe.xrange(key, id, id)
  const entries =
    rows.length === 0 ? [] : pipelineReplies(await pipe.exec(), 'dashboard pending entries', rows.length)
  const pending = rows.map(([id, consumer, idle, deliveries], i) => {
    const found = (entries[i] as [string, string[]][] | undefined)?.[0]
    const delivery = found ? decodeEntry({ id: found[0], fields: found[1] }) : undefined
    return { id, consumer, idle: Number(idle), deliveries: Number(deliveries), envelope: delivery?.envelope }
  })
  return { stream: q.stream, group: q.group, consumers, pending, found: true }
}

function memoryDetail(ctx: FleetContext, q: GroupQuery): GroupDetail {
  const stream = memoryStream(ctx, q.stream)
  const state = stream?.groups.get(q.group)
  if (!stream || !state) return { stream: q.stream, group: q.group, consumers: [], pending: [], found: false }
  const now = Date.now()
  const perConsumer = new Map<string, number>()
  const pending: PendingView[] = []
  for (const [id, info] of state.pending) {
    perConsumer.set(info.consumer, (perConsumer.get(info.consumer) ?? 0) + 1)
    if (q.consumer && info.consumer !== q.consumer) continue
    if (pending.length >= PENDING_PAGE || (q.after && compareIds(id, q.after) <= 0)) continue
    const entry = stream.find(id)
    const delivery = entry ? decodeEntry({ id, fields: entry.fields }) : undefined
    const idle = now - info.deliveredAt
    pending.push({
      id,
      consumer: info.consumer,
      idle,
      deliveries: info.deliveries,
      envelope: delivery?.envelope,
    })
  }
  const consumers = [...perConsumer].map(([name, count]) => ({ name, pending: count, idle: null }))
  return { stream: q.stream, group: q.group, consumers, pending, found: true }
}

/**
 * A consumer group's consumers (XINFO CONSUMERS) and a page of its pending entries with their
 * idle time and delivery count (XPENDING), each with its payload (XRANGE id id).
 */
export function groupDetail(ctx: FleetContext, q: GroupQuery): Promise<GroupDetail> {
  return ctx.topology === 'memory' ? Promise.resolve(memoryDetail(ctx, q)) : redisDetail(ctx, q)
}
