import type { Durability } from '../durability.ts'
import type { RawEntry } from './entry.ts'

/** One XADD of a publish: where, what, and how the stream is capped. */
export interface StreamWrite {
  key: string
  fields: string[]
  maxLen: number
  /** `MAXLEN ~` (whole macro nodes, cheap) rather than an exact cap. */
  approximate: boolean
  /**
   * The publish id the write's `fields` carry (PUBLISH_ID_FIELD, SPEC §8): a resend of the write
   * adds nothing when an earlier send of it is among the stream's latest RESEND_WINDOW entries
   * and returns that entry's id instead (see publish-ids.ts). Without it, a plain XADD every
   * time (dead letters, replays).
   */
  once?: string
  /**
   * Set by the Redis backend when it sends a write with a publish id: the connection it went
   * on. Its resend goes on the same one, behind it, so that a first send still waiting in the
   * node (a timeout) runs before the resend looks for it: a node runs one connection's
   * commands in order, while two connections of a pool (`pool.size` > 1) are not ordered.
   */
  sentOn?: unknown
  /**
   * Set by the Redis backend when a write of several (a publish with channels) was acknowledged:
   * its entry's id. A resend of the call sends only the writes without one: one acknowledged
   * while another node timed out is not sent again, where its stream may have moved on past the
   * resend's window (SPEC §8: a second copy).
   */
  written?: string
}

/** No trimming (a MAXLEN no stream reaches): left to the application's own publishes. */
export const NO_CAP = Number.MAX_SAFE_INTEGER

/** An entry appended unless an entry with its publish id is already there (appendOnce). */
export interface OnceWrite {
  /** The entry's fields, its publish id's among them. */
  fields: string[]
  once: string
}

/** What a durable append waits for (SPEC §10), and the operation and key its error names. */
export interface AppendDurability {
  readonly durability: Durability
  readonly where: string
}

/** A pending entry handed to a consumer, with how many times Redis has delivered it. */
export interface ClaimedEntry extends RawEntry {
  deliveries: number
}

export interface ClaimResult {
  /** Cursor for the next claim call; '0-0' when the pending list was scanned to its end. */
  next: string
  entries: ClaimedEntry[]
}

/**
 * What the streams need from where they keep data. The memory and Redis backends implement
 * it with the same semantics; the public classes do validation, encoding and loops.
 * Keys are full keys (already namespaced). Blocking calls take a `signal` and return early
 * (with what they have, possibly nothing) when it aborts.
 */
/** A consumer group as `redfleet status` and the dashboard show it (StreamBackend.groups). */
export interface GroupLag {
  name: string
  /** Entries delivered to a consumer and not acked yet. */
  pending: number
  consumers: number
  /** The group's `groupLag`: entries not yet acked, never delivered + pending (docs/streams.md). */
  lag: number
}

export interface StreamBackend {
  /**
   * A loop's command (a read, an ack, a claim) failed with `error`, as translated. A loop sends
   * its commands itself, not through the operation runner, which does this for every call: on a
   * cluster, a failure that may come from a stale slot map (doubtsLayout) has it re-read, at
   * most once a while, so that the loop follows a frozen master's takeover.
   */
  loopFailed(error: unknown): void
  /**
   * XADD per write, one pipeline per node, followed on each node by the WAIT/WAITAOF `durable`
   * asks for (DurabilityError when they fall short; the memory backend has nothing to wait
   * for); ids in input order. `resend`: this call repeats an earlier one that may have been
   * applied, so each write with a publish id first looks for its earlier copy (add-each-once-1.lua).
   */
  append(writes: readonly StreamWrite[], durable?: AppendDurability, resend?: boolean): Promise<string[]>
  /**
   * XADD to `key` of each write whose publish id (`once`) is not among the stream's latest
   * RESEND_WINDOW entries, looked for once before any is added (add-each-once-1.lua); no trimming
   * (NO_CAP). Per write, its id: the new one, or the one found.
   */
  appendOnce(key: string, writes: readonly OnceWrite[]): Promise<string[]>
  /** XRANGE key (afterId + COUNT count: entries strictly after `afterId`. */
  range(key: string, afterId: string, count: number): Promise<RawEntry[]>
  /** Id of the newest entry, '0-0' when the stream is empty or missing. */
  lastId(key: string): Promise<string>
  /** XREAD BLOCK: entries after `afterId`, waiting up to `block` ms for the first one. */
  read(key: string, afterId: string, count: number, block: number, signal: AbortSignal): Promise<RawEntry[]>
  /** XGROUP CREATE key group 0 MKSTREAM; a group that exists is left as it is. True if made now. */
  createGroup(key: string, group: string): Promise<boolean>
  /**
   * XACK `acks` (if any), then XREADGROUP '>' BLOCK. The acks travel first on the same
   * connection, so a consumer's loop costs one round trip per batch. Entries read from '>'
   * are delivered for the first time: their delivery count is 1.
   */
  readGroup(
    key: string,
    group: string,
    consumer: string,
    count: number,
    block: number,
    acks: readonly string[],
    signal: AbortSignal,
  ): Promise<ClaimedEntry[]>
  /** XAUTOCLAIM from `cursor`, with each claimed entry's delivery count (XPENDING). */
  claim(
    key: string,
    group: string,
    consumer: string,
    minIdle: number,
    cursor: string,
    count: number,
  ): Promise<ClaimResult>
  /** XACK. */
  ack(key: string, group: string, ids: readonly string[]): Promise<void>
  /**
   * Hands entries this consumer was delivered but never started back to the group: they become
   * claimable at once and their delivery count goes back to what it was before.
   */
  release(key: string, group: string, consumer: string, entries: readonly ClaimedEntry[]): Promise<void>
  /** Entries not yet acked by the group: never delivered + pending; 0 for a missing stream or group. */
  lag(key: string, group: string): Promise<number>
  /** Every group of the stream with its pending count, consumers and `lag`, in one step (status, dashboard). */
  groups(key: string): Promise<GroupLag[]>
  /** Whether the stream has the consumer group `group` (false when the stream does not exist). */
  hasGroup(key: string, group: string): Promise<boolean>
  /** XDEL: removes these entries (dead-letter purge and replay); returns how many existed. */
  remove(key: string, ids: readonly string[]): Promise<number>
}
