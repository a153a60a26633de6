import { started } from '../deadline.ts'
import { pipeScript, writeDurably } from '../durability.ts'
import { doubtsLayout } from '../errors.ts'
import type { TopologyHandle } from '../topology/handle.ts'
import { connectionOf, everyPart } from '../topology/pipeline.ts'
import type { Client, RedisTopology } from '../topology/types.ts'
import type { CommandPipeline, DedicatedConnection } from '../transport/types.ts'
import {
  type AppendDurability,
  type ClaimedEntry,
  type ClaimResult,
  type GroupLag,
  NO_CAP,
  type OnceWrite,
  type StreamBackend,
  type StreamWrite,
} from './backend.ts'
import type { BlockingPool } from './blocking-pool.ts'
import { PUBLISH_ID_FIELD, type RawEntry } from './entry.ts'
import { compareIds, START_ID } from './ids.ts'
import { RESEND_WINDOW } from './publish-ids.ts'
import { ADD_EACH_ONCE, CLAIM_PENDING, COUNT_AFTER, GROUP_LAGS, RELEASE_UNSTARTED } from './scripts.ts'

/** Entries one COUNT_AFTER call counts at most: a few ms of the server's time (~1–3 µs each). */
const COUNT_PER_CALL = 5000
/** groupLag counts at most this many entries after the group's position (see #undelivered). */
const EXACT_UP_TO = 10_000

/** ADD_EACH_ONCE's keys and arguments for `writes` to `key`, each carrying its publish id. */
function addEachOnce(key: string, writes: readonly OnceWrite[], maxLen: number, approximate: boolean) {
  const args: (string | number)[] = [PUBLISH_ID_FIELD, RESEND_WINDOW, maxLen, approximate ? '~' : '=']
  for (const write of writes) args.push(write.once, write.fields.length, ...write.fields)
  return [[key], args] as [keys: string[], args: (string | number)[]]
}

/** ADD_EACH_ONCE's keys and arguments for the resend of a write with a publish id. */
function addOnce(write: StreamWrite): [keys: string[], args: (string | number)[]] {
  return addEachOnce(
    write.key,
    [{ fields: write.fields, once: write.once! }],
    write.maxLen,
    write.approximate,
  )
}

/** The id a write's reply carries: an XADD's, or the one of the list ADD_EACH_ONCE answers. */
function idOf(reply: unknown): string {
  return String(Array.isArray(reply) ? reply[0] : reply)
}

function xaddArgs(write: StreamWrite): (string | number)[] {
  return [write.key, 'MAXLEN', write.approximate ? '~' : '=', write.maxLen, '*', ...write.fields]
}

/**
 * Adds one write to a pipeline: a plain XADD, or on a resend of a write with a publish id
 * ADD_EACH_ONCE (by SHA, or with its source after NOSCRIPT).
 */
function pipeWrite(pipe: CommandPipeline, write: StreamWrite, resend: boolean, withSource: boolean): void {
  if (!resend || write.once === undefined) {
    pipe.call('XADD', ...xaddArgs(write))
    return
  }
  const [keys, args] = addOnce(write)
  pipeScript(pipe, ADD_EACH_ONCE, keys, args, withSource)
}

/**
 * One write on its own, without a Pipeline object: publish and send are hot paths. An XADD's
 * reply is the new id, a string with every client; no promise of its own on the way.
 */
function writeOne(client: Client, write: StreamWrite, resend: boolean): Promise<string> {
  if (!resend || write.once === undefined) return client.call('XADD', ...xaddArgs(write)) as Promise<string>
  const [keys, args] = addOnce(write)
  return ADD_EACH_ONCE.run(client, keys, args).then(idOf)
}

/**
 * The connection for a write: on a resend, the one its first send went on (StreamWrite.sentOn);
 * otherwise the topology's pick, remembered when the write has a publish id.
 */
function clientFor(topology: RedisTopology, write: StreamWrite, key: string, resend: boolean): Client {
  if (resend && write.sentOn !== undefined) return write.sentOn as Client
  const client = topology.client(key)
  if (write.once !== undefined) write.sentOn = client
  return client
}

function sentOn(write: StreamWrite, client: Client): void {
  if (write.once !== undefined && write.sentOn === undefined) write.sentOn = client
}

/** Notes the id of `write` once acknowledged (StreamWrite.written), and passes it on. */
function written(write: StreamWrite): (id: string) => string {
  return (id) => (write.written = id)
}

function one(id: string): string[] {
  return [id]
}

/** Entries of an XRANGE/XREAD reply; `deliveries` is set by readers that know it (else 1). */
function toEntries(reply: unknown): ClaimedEntry[] {
  if (!Array.isArray(reply)) return []
  const out = new Array<ClaimedEntry>(reply.length)
  for (let i = 0; i < reply.length; i++) {
    const [id, fields] = reply[i] as [string, string[] | null]
    // ioredis hands bulk strings over as strings already: no copy per entry on the hot path.
    out[i] = { id, fields: Array.isArray(fields) ? fields : null, deliveries: 1 }
  }
  return out
}

/**
 * The entries of the one stream an XREAD/XREADGROUP asked for. RESP3 (ioredis' default) sends a
 * map, which ioredis flattens to [key, entries]; RESP2 (a user's client) sends [[key, entries]].
 */
function readReply(reply: unknown): ClaimedEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return []
  if (Array.isArray(reply[0])) return toEntries((reply[0] as unknown[])[1])
  return toEntries(reply[1])
}

/**
 * Streams on Redis. Writes and non-blocking reads use the topology's command connections;
 * XREAD/XREADGROUP BLOCK use the fleet's pool of dedicated connections, never the shared ones.
 */
export class RedisStreamBackend implements StreamBackend {
  readonly #topology: TopologyHandle

  constructor(
    topology: TopologyHandle,
    private readonly pool: BlockingPool,
  ) {
    this.#topology = topology
  }

  #client(key: string) {
    return this.#topology.client(key)
  }

  loopFailed(error: unknown): void {
    if (doubtsLayout(error)) this.#topology.current?.doubtLayout()
  }

  append(writes: readonly StreamWrite[], durable?: AppendDurability, resend = false): Promise<string[]> {
    const topology = this.#topology.current
    // Nothing to wait for: each write on its own, all sent in this tick, so each node's leave
    // in one write (the connections coalesce a tick's commands) without a Pipeline object, and
    // no await once the topology exists: publish is a hot path.
    if (topology && durable === undefined) {
      try {
        if (writes.length === 1) {
          const write = writes[0]!
          return writeOne(clientFor(topology, write, write.key, resend), write, resend).then(one)
        }
        // One refused while another node took its write is told as 'unknown' (everyPart, as
        // setMany's parts are): looked into only on a failure, since publish is a hot path.
        const parts = writes.map((w) =>
          started(() => writeOne(clientFor(topology, w, w.key, resend), w, resend).then(written(w))),
        )
        return Promise.all(parts).catch(() => everyPart(parts))
      } catch (error) {
        // A node known to be down refuses at once: a rejection, like every other failure.
        return Promise.reject(error)
      }
    }
    return this.#appendSlow(writes, durable, resend)
  }

  async #appendSlow(
    writes: readonly StreamWrite[],
    durable: AppendDurability | undefined,
    resend: boolean,
  ): Promise<string[]> {
    const topology = this.#topology.current ?? (await this.#topology.get())
    if (durable === undefined) return this.append(writes, durable, resend)
    const write = (pipe: CommandPipeline, indexes: readonly number[], withSource: boolean) => {
      for (const index of indexes) pipeWrite(pipe, writes[index]!, resend, withSource)
    }
    const send = (client: Client, indexes: readonly number[]) =>
      writeDurably(client, durable.durability, durable.where, (pipe, withSource) =>
        write(pipe, indexes, withSource),
      )
    if (topology.oneConnection) {
      const client = clientFor(topology, writes[0]!, writes[0]!.key, resend)
      for (const write of writes) sentOn(write, client)
      // One node: one pipeline on its command connection, its WAIT last.
      return (
        await send(
          client,
          writes.map((_, i) => i),
        )
      ).map(idOf)
    }
    // One pipeline per node and lane (connectionOf), its WAIT after all of its writes. A key listed twice is in
    // its batch twice, so indexing by position keeps duplicates distinct.
    const byNode = new Map<string, { client: Client; indexes: number[] }>()
    for (const batch of await topology.batches(writes.map((w) => w.key))) {
      const connection = connectionOf(batch)
      const node = byNode.get(connection)
      if (node) node.indexes.push(...batch.indexes)
      else {
        // A resend goes where the first send went (see StreamWrite.sentOn).
        const first = writes[batch.indexes[0]!]!
        const client =
          (resend ? (first.sentOn as Client | undefined) : undefined) ?? topology.batchClient(batch)
        byNode.set(connection, { client, indexes: [...batch.indexes] })
      }
    }
    for (const { client, indexes } of byNode.values()) for (const i of indexes) sentOn(writes[i]!, client)
    const ids = new Array<string>(writes.length)
    await everyPart(
      [...byNode.values()].map(async ({ client, indexes }) => {
        const replies = await send(client, indexes)
        indexes.forEach((index, n) => {
          ids[index] = writes[index]!.written = idOf(replies[n])
        })
      }),
    )
    return ids
  }

  async range(key: string, afterId: string, count: number): Promise<RawEntry[]> {
    const client = await this.#client(key)
    return toEntries(await client.call('XRANGE', key, `(${afterId}`, '+', 'COUNT', count))
  }

  lastId(key: string): Promise<string> {
    // Sent at once (no await first, once the topology is built): the newest entry when a tail or
    // an inbox starts, ahead of anything called after it, as a publish right after tail() is.
    return this.#topology
      .run(key, (client) => client.call('XREVRANGE', key, '+', '-', 'COUNT', 1))
      .then((reply) => toEntries(reply)[0]?.id ?? START_ID)
  }

  async read(
    key: string,
    afterId: string,
    count: number,
    block: number,
    signal: AbortSignal,
  ): Promise<RawEntry[]> {
    const reply = await this.pool.with(key, signal, block, (connection, within) =>
      connection.call('XREAD', 'COUNT', count, 'BLOCK', within, 'STREAMS', key, afterId),
    )
    return readReply(reply)
  }

  async createGroup(key: string, group: string): Promise<boolean> {
    const client = await this.#client(key)
    try {
      await client.call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM')
      return true
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('BUSYGROUP')) throw error
      return false
    }
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
    const reply = await this.pool.with(
      key,
      signal,
      block,
      async (connection: DedicatedConnection, within: number) => {
        const read = ['GROUP', group, consumer, 'COUNT', count, 'BLOCK', within, 'STREAMS', key, '>']
        if (acks.length === 0) return connection.call('XREADGROUP', ...read)
        // Both sent now, in this order on one connection (no Pipeline object: it costs more
        // than it saves on a hot loop); a failed XACK fails the read as a pipeline would.
        const acked = connection.call('XACK', key, group, ...acks)
        const reading = connection.call('XREADGROUP', ...read)
        try {
          await acked
        } catch (error) {
          reading.catch(() => undefined)
          throw error
        }
        return reading
      },
      // Not cut off by an abort: what Redis delivered to it comes back, and is handed back.
      true,
    )
    if (reply === undefined && acks.length > 0) await this.ack(key, group, acks)
    return readReply(reply)
  }

  async claim(
    key: string,
    group: string,
    consumer: string,
    minIdle: number,
    cursor: string,
    count: number,
  ): Promise<ClaimResult> {
    const client = await this.#client(key)
    const [next, entries, counts] = (await CLAIM_PENDING.run(
      client,
      [key],
      [group, consumer, minIdle, cursor, count],
    )) as [string, unknown, number[]]
    return {
      next: String(next),
      entries: toEntries(entries).map(
        (entry, i): ClaimedEntry => ({ ...entry, deliveries: Number(counts[i] ?? 1) }),
      ),
    }
  }

  async ack(key: string, group: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await (await this.#client(key)).call('XACK', key, group, ...ids)
  }

  async release(
    key: string,
    group: string,
    consumer: string,
    entries: readonly ClaimedEntry[],
  ): Promise<void> {
    if (entries.length === 0) return
    const pairs = entries.flatMap((entry) => [entry.id, Math.max(0, entry.deliveries - 1)])
    await RELEASE_UNSTARTED.run(await this.#client(key), [key], [group, consumer, ...pairs])
  }

  async appendOnce(key: string, writes: readonly OnceWrite[]): Promise<string[]> {
    if (writes.length === 0) return []
    const [keys, args] = addEachOnce(key, writes, NO_CAP, true)
    return ((await ADD_EACH_ONCE.run(await this.#client(key), keys, args)) as unknown[]).map(String)
  }

  async remove(key: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0
    return Number(await (await this.#client(key)).call('XDEL', key, ...ids))
  }

  async hasGroup(key: string, group: string): Promise<boolean> {
    return (await this.#positions(key, group)).length > 0
  }

  async lag(key: string, group: string): Promise<number> {
    const [found] = await this.#positions(key, group)
    return found ? this.#lagOf(key, found) : 0
  }

  async groups(key: string): Promise<GroupLag[]> {
    const groups: GroupLag[] = []
    // One group after another: a group whose count Redis cannot give is counted on the server.
    for (const position of await this.#positions(key, '')) {
      const { name, pending, consumers } = position
      groups.push({ name, pending, consumers, lag: await this.#lagOf(key, position) })
    }
    return groups
  }

  /** Where `group` (or, for '', every group) stands in the stream; [] when there is none. */
  async #positions(key: string, group: string): Promise<GroupPosition[]> {
    const reply = (await GROUP_LAGS.run(await this.#client(key), [key], [group])) as unknown[]
    const [first, last, length, added] = [
      String(reply[0]),
      String(reply[1]),
      Number(reply[2]),
      Number(reply[3]),
    ]
    const positions: GroupPosition[] = []
    for (let i = 4; i + 4 < reply.length; i += 5) {
      const [name, pending, consumers, lag, lastDelivered] = reply.slice(i, i + 5)
      positions.push({
        name: String(name),
        pending: Number(pending),
        consumers: Number(consumers),
        lag: Number(lag),
        lastDelivered: String(lastDelivered),
        first,
        last,
        length,
        added,
      })
    }
    return positions
  }

  /** groupLag: the entries never delivered to the group, and those pending. */
  async #lagOf(key: string, at: GroupPosition): Promise<number> {
    return at.pending + (await this.#undelivered(key, at))
  }

  /**
   * Entries after the group's last-delivered id. Redis' `lag` counts the entries added since the
   * group's position as Redis counted it, which is exact only while nothing was ever removed from
   * the stream: after an XDEL it is unknown (-1), and Redis 7.0 keeps counting entries trimmed
   * before the group got to them (redis/redis#13957), even once the group has read everything.
   * Otherwise the entries after the position are counted on the server (COUNT_AFTER), and on
   * the first call those up to it too: when they are fewer, the length less them answers (a
   * group far behind near the start of a big stream: one call, not its whole backlog sent and
   * decoded here, 0.35–2.5 s for 50,000, helper-313). Once EXACT_UP_TO are counted with more to
   * come, Redis' count (at most the stream's length) stands in when it has one.
   */
  async #undelivered(key: string, at: GroupPosition): Promise<number> {
    const { lastDelivered, first, last, length, lag, added } = at
    if (length === 0 || compareIds(lastDelivered, last) >= 0) return 0
    if (compareIds(lastDelivered, first) < 0) return length
    if (lag >= 0 && added === length) return Math.min(lag, length)
    const client = await this.#client(key)
    let counted = 0
    let after = lastDelivered
    for (;;) {
      if (lag >= 0 && counted >= EXACT_UP_TO) return Math.min(lag, length)
      // The first call also counts up to the position, and answers when that side is shorter.
      const upTo = counted === 0 ? lastDelivered : ''
      const reply = (await COUNT_AFTER.run(client, [key], [after, COUNT_PER_CALL, upTo])) as unknown[]
      const [step, lastCounted, byLength] = [Number(reply[0]), String(reply[1]), Number(reply[2])]
      if (byLength >= 0) return byLength
      counted += step
      if (step < COUNT_PER_CALL) return counted
      after = lastCounted
    }
  }
}

/** Where a group stands in its stream (GROUP_LAGS' reply). */
interface GroupPosition {
  name: string
  pending: number
  consumers: number
  lastDelivered: string
  first: string
  last: string
  length: number
  /** Redis' lag, -1 when it has none. */
  lag: number
  /** Entries ever added to the stream (-1 before Redis 7). */
  added: number
}
