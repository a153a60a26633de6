/**
 * Dead letters of a fleet's consumer groups (SPEC §5, docs/streams.md): list them, put them back
 * where they came from, or delete them. A dead-letter channel is a channel stream whose entries
 * are the records a consume loop writes: { id, group, error, deliveries, envelope, deadAt }.
 */
import { type FleetContext, operationPolicy, runOperation } from '../context.ts'
import { type Fleet, fleetContext } from '../fleet.ts'
import { streamBackend } from '../streams/access.ts'
import type { StreamBackend } from '../streams/backend.ts'
import {
  type Delivery,
  decodeEntry,
  ENVELOPE_FIELD,
  encodeEnvelope,
  PUBLISH_ID_FIELD,
  type RawEntry,
  REPLAY_FIELD,
} from '../streams/entry.ts'
import { afterIdArg, canonicalId, parseId, START_ID } from '../streams/ids.ts'
import { scriptFile } from '../topology/script.ts'
import type { Client } from '../topology/types.ts'
import { assertName, countArgument, describeValue, invalidArgument } from '../validate.ts'
import { scanKeys, streamLength } from './keys.ts'

export interface DeadLetter {
  /** Id of the record in the dead-letter channel. */
  id: string
  /** The dead-letter channel. */
  channel: string
  /** Where the entry was consumed from: its stream (undefined = the main stream) and its id there. */
  origin: { channel: string | undefined; id: string }
  /** The consumer group that gave up on it. */
  group: string
  /** The handler's last error message. */
  error: string
  deliveries: number
  /** When it was dead-lettered (ms since the epoch, the consumer's clock). */
  deadAt: number
  /** The original envelope. */
  envelope: Record<string, unknown>
}

/** Records per read when a whole channel is visited. */
const PAGE = 500

/** Removes each letter still in the channel and appends it to its stream, atomically. */
const REPLAY = scriptFile(new URL('./lua/replay-dead-letters-2.lua', import.meta.url))

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Whether an entry is a dead-letter record: the origin id, the group and the envelope. */
export function isDeadLetterRecord(entry: Delivery): boolean {
  const { id, group, envelope } = entry.envelope
  return typeof id === 'string' && typeof group === 'string' && isObject(envelope)
}

/** The dead letter an entry holds, or undefined when it is not a dead-letter record. */
function toDeadLetter(channel: string, entry: Delivery): DeadLetter | undefined {
  if (!isDeadLetterRecord(entry)) return undefined
  const { id, group, error, deliveries, deadAt, envelope } = entry.envelope as {
    id: string
    group: string
    envelope: Record<string, unknown>
    error?: unknown
    deliveries?: unknown
    deadAt?: unknown
  }
  return {
    id: entry.id,
    channel,
    // Consume loops read the main stream only: every record so far came from there.
    origin: { channel: undefined, id },
    group,
    error: typeof error === 'string' ? error : String(error ?? ''),
    deliveries: Number(deliveries) || 0,
    deadAt: Number(deadAt) || 0,
    envelope,
  }
}

const channelPrefix = (ctx: FleetContext) => ctx.keys.key('streams', 'channel', '')

/**
 * Dead-letter channels of the namespace, with their lengths: those whose first entry is a
 * dead-letter record, and those named as a group's default one (`<group>:dead`) that hold any
 * entry (a letter behind an event written there by hand is still a letter).
 */
export async function deadLetterChannels(fleet: Fleet): Promise<{ channel: string; length: number }[]> {
  const ctx = fleetContext(fleet)
  const prefix = channelPrefix(ctx)
  const { keys } = await scanKeys(ctx, prefix, { type: 'stream' })
  const streams = fleet.streams()
  const found = await Promise.all(
    keys.map(async (key) => {
      const channel = key.slice(prefix.length)
      const [first] = await streams.readRange(channel, undefined, 1)
      if (!first || !isDeadLetterChannel(channel, toDeadLetter(channel, first) !== undefined))
        return undefined
      return { channel, length: await streamLength(ctx, key) }
    }),
  )
  return found.filter((c) => c !== undefined).sort((a, b) => a.channel.localeCompare(b.channel))
}

/**
 * Part of a channel as dead-letter readers see it: its dead letters, and the ids of the entries
 * that are not dead-letter records (another program's, or damaged), which are never replayed.
 */
interface Scan {
  letters: DeadLetter[]
  others: string[]
  /** The id of the last entry read (the next read goes on after it), or where it started. */
  end: string
}

/** One page of raw entries of `channel` after `after` (XRANGE), with the fleet's retry policy. */
function rawPage(
  fleet: Fleet,
  op: string,
  channel: string,
  after: string,
  count: number,
): Promise<RawEntry[]> {
  const ctx = fleetContext(fleet)
  const key = ctx.keys.key('streams', 'channel', channel)
  const backend = streamBackend(ctx)
  return runOperation(ctx, operationPolicy(ctx, {}), op, channel, () => backend.range(key, after, count))
}

/**
 * Up to `limit` dead letters of `channel` after `afterId`, oldest first, with their records, and
 * the entries passed over on the way that are not dead-letter records. Entries are read raw: a
 * stream reader skips entries redfleet did not write, and so would never name them.
 */
async function readLetters(
  fleet: Fleet,
  op: string,
  channel: string,
  limit: number,
  afterId: string | undefined,
): Promise<Scan> {
  assertName(channel, 'channel', op)
  countArgument(limit, 'limit', op, PAGE)
  const out: Scan = { letters: [], others: [], end: afterIdArg(op, afterId) }
  for (;;) {
    const want = limit - out.letters.length
    const page = await rawPage(fleet, op, channel, out.end, want)
    for (const entry of page) {
      const delivery = decodeEntry(entry)
      const letter = delivery && toDeadLetter(channel, delivery)
      if (letter) out.letters.push(letter)
      else out.others.push(entry.id)
    }
    if (page.length > 0) out.end = page[page.length - 1]!.id
    if (page.length < want || out.letters.length >= limit) return out
  }
}

/** Up to `limit` (500) dead letters of `channel` after `afterId`, oldest first. */
export async function listDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { limit?: number; afterId?: string } = {},
): Promise<DeadLetter[]> {
  return (await readDeadLetters(fleet, channel, o)).letters
}

/**
 * As listDeadLetters, with `skipped`: how many entries that are not dead-letter records were
 * passed over to find them (what makes a channel's length exceed its dead letters).
 */
export async function readDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { limit?: number; afterId?: string } = {},
): Promise<{ letters: DeadLetter[]; skipped: number }> {
  const scan = await readLetters(fleet, 'admin.listDeadLetters', channel, o.limit ?? PAGE, o.afterId)
  return { letters: scan.letters, skipped: scan.others.length }
}

/** Every dead letter of `channel` and every other entry, or those of `ids` only. */
async function selected(fleet: Fleet, op: string, channel: string, ids: string[] | undefined): Promise<Scan> {
  const named = ids === undefined ? undefined : new Set(ids)
  const wanted = (id: string) => named === undefined || named.has(id)
  const out: Scan = { letters: [], others: [], end: START_ID }
  for (;;) {
    // Each page goes on after the last entry the one before read, letter or not: none twice.
    const page = await readLetters(fleet, op, channel, PAGE, out.end)
    out.letters.push(...page.letters.filter((letter) => wanted(letter.id)))
    out.others.push(...page.others.filter(wanted))
    out.end = page.end
    if (page.letters.length < PAGE) return out
  }
}

/** One stream step with the fleet's retry policy and error translation. */
type Step = <T>(fn: (backend: StreamBackend) => Promise<T>) => Promise<T>

/** What a replay or purge does with one page of the selected letters; returns how many it did. */
type Act = (page: DeadLetter[], step: Step, channelKey: string) => Promise<number>

/** A replay or purge under way: what it selected, and how it reaches the channel. */
interface Selection {
  scan: Scan
  step: Step
  channelKey: string
}

/** Validates the arguments of a replay or purge and selects the entries (all, or those of `ids`). */
async function select(fleet: Fleet, op: string, channel: string, ids: unknown): Promise<Selection> {
  assertName(channel, 'channel', op)
  if (ids !== undefined && (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string'))) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: ids must be an array of entry ids, got ${describeValue(ids)}`,
    )
  }
  const ctx = fleetContext(fleet)
  const scan = await selected(
    fleet,
    op,
    channel,
    ids?.map((id: string) => entryId(op, id)),
  )
  const backend = streamBackend(ctx)
  const channelKey = ctx.keys.key('streams', 'channel', channel)
  const step: Step = (fn) => runOperation(ctx, operationPolicy(ctx, {}), op, channel, () => fn(backend))
  return { scan, step, channelKey }
}

/**
 * An id as Redis reads it (a bare `ms` is `ms-0`), the form letters' ids are compared in; a typo
 * is a TypeError rather than an id that matches nothing and "succeeds" with a count of 0.
 */
function entryId(op: string, id: string): string {
  const canonical = canonicalId(id)
  if (canonical === undefined) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      `${op}: ids: ${JSON.stringify(id)} is not a stream entry id (like 1700000000000-0)`,
    )
  }
  return canonical
}

/** Hands `items` to `act` a page at a time; returns the sum of what `act` returns. */
async function inPages<T>(items: T[], act: (page: T[]) => Promise<number>): Promise<number> {
  let total = 0
  for (let i = 0; i < items.length; i += PAGE) total += await act(items.slice(i, i + PAGE))
  return total
}

/**
 * Runs a replay or purge of the selected dead letters, a page at a time, once `check` (if any)
 * accepted them all; returns how many it did.
 */
async function perPage(
  fleet: Fleet,
  op: string,
  channel: string,
  ids: unknown,
  act: Act,
  check?: (letters: DeadLetter[], step: Step) => Promise<void>,
): Promise<number> {
  const { scan, step, channelKey } = await select(fleet, op, channel, ids)
  await check?.(scan.letters, step)
  return inPages(scan.letters, (page) => act(page, step, channelKey))
}

/**
 * The client that can run one script on all of `keys` (one node on the ring, one slot on a
 * cluster, as the topology batches them), or undefined when none can (or on the memory topology).
 */
async function clientOfAll(ctx: FleetContext, keys: string[]): Promise<Client | undefined> {
  if (ctx.topology === 'memory') return undefined
  const topology = await ctx.redis()
  const batches = await topology.batches(keys)
  return batches.length === 1 ? topology.batchClient(batches[0]!) : undefined
}

/**
 * Puts each dead letter (all, or those of `ids`) back on the stream it came from, addressed to
 * the group that gave up on it, so that a consumer of that group handles it again (other groups
 * and tails skip it), and deletes it from the dead-letter channel. Returns how many were
 * replayed: a letter is replayed by the call that removed it from the channel, so replays of the
 * same channel at once (two operators, two dashboards) replay each letter once between them,
 * and their counts add up to the letters there were. Refused, nothing replayed, when a letter's
 * group is not on the main stream (assertGroupsExist).
 *
 * Redis: where the channel and the main stream are on one node and slot (standalone, and the
 * ring or a cluster when they happen to be), one script per page (replay-dead-letters-2.lua)
 * appends and removes each letter atomically. Elsewhere, replayAcross: appended before removed,
 * so a process dying half way loses none; its letters are in both places until the next replay,
 * which adds no second copy of them while that copy is among the main stream's latest 1000
 * entries (RESEND_WINDOW).
 */
export function replayDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { ids?: string[] } = {},
): Promise<number> {
  const op = 'admin.replayDeadLetters'
  const ctx = fleetContext(fleet)
  const main = ctx.keys.key('streams', 'events')
  const replay: Act = async (page, step, channelKey) => {
    const client = await step(() => clientOfAll(ctx, [channelKey, main]))
    if (client) {
      const args: string[] = [ENVELOPE_FIELD, REPLAY_FIELD]
      for (const letter of page) {
        args.push(letter.id, encodeEnvelope(letter.envelope, op, 'events')[1]!, letter.group)
      }
      return Number(await step(() => REPLAY.run(client, [channelKey, main], args)))
    }
    return replayAcross(page, step, channelKey, main, op)
  }
  return perPage(fleet, op, channel, o.ids, replay, (letters, step) =>
    assertGroupsExist(letters, step, main, op, channel),
  )
}

/**
 * Refuses a replay of letters addressed to a group the main stream does not have (destroyed, or
 * never made): every consumer would skip them, and they would have left the dead-letter channel,
 * where an operator looks for them, for an entry no one reads (helper-228). Checked before any
 * letter is replayed.
 */
async function assertGroupsExist(
  letters: DeadLetter[],
  step: Step,
  main: string,
  op: string,
  channel: string,
) {
  const groups = [...new Set(letters.map((letter) => letter.group))]
  const found = await Promise.all(groups.map((group) => step((b) => b.hasGroup(main, group))))
  const missing = groups.filter((_, i) => !found[i])
  if (missing.length === 0) return
  // As JSON strings: names read from Redis may hold control characters, which reach a terminal.
  const named = missing.map((group) => JSON.stringify(group)).join(', ')
  throw invalidArgument(
    'ERR_INVALID_ARGUMENT',
    `${op}: dead letters of ${JSON.stringify(channel)} are addressed to group ${named}, which the main stream does not have ` +
      '(destroyed, or never made): replayed, no consumer would read them. Nothing was replayed; ' +
      'make the group first (streams.ensureGroup: a new group reads the main stream from its start), or purge the letters',
  )
}

/**
 * A page of a replay whose channel and main stream no script can touch together (two slots or
 * nodes, or the memory topology), in three steps: which letters are still in the channel (another
 * replay or purge may have taken some since they were read), append those to the main stream,
 * then XDEL them; the count is XDEL's, so concurrent replays' counts add up. Appending first
 * means a process dying between the steps leaves its letters in both places, never in neither:
 * each carries a publish id made of the channel and the letter's id, and the append adds none
 * whose copy is among the main stream's latest RESEND_WINDOW entries (add-each-once-1.lua, one
 * look per page), so the next replay, or a concurrent one, adds no second copy. A failed step
 * leaves the page's letters in the channel. What the order gives up: a purge of a letter
 * between the first two steps deletes it and the replay still appends it (delete first, the
 * order before, made the two exclusive, and lost the page to a crash instead).
 */
async function replayAcross(page: DeadLetter[], step: Step, channelKey: string, main: string, op: string) {
  const present = await Promise.all(page.map((letter) => step((b) => stillIn(b, channelKey, letter.id))))
  const left = page.filter((_, i) => present[i])
  if (left.length === 0) return 0
  const writes = left.map((letter) => {
    const once = replayId(channelKey, letter.id)
    const fields = [
      ...encodeEnvelope(letter.envelope, op, 'events'),
      REPLAY_FIELD,
      letter.group,
      PUBLISH_ID_FIELD,
      once,
    ]
    return { fields, once }
  })
  await step((b) => b.appendOnce(main, writes))
  return step((b) =>
    b.remove(
      channelKey,
      left.map((letter) => letter.id),
    ),
  )
}

/** The publish id of a letter's replay: the same for every replay of it, from any process. */
function replayId(channelKey: string, id: string): string {
  return `replay:${id}:${channelKey}`
}

/** Whether the entry `id` is still in the stream `key`. */
async function stillIn(b: StreamBackend, key: string, id: string): Promise<boolean> {
  const [entry] = await b.range(key, idBefore(id), 1)
  return entry?.id === id
}

/** The id just before `id` (canonical, parts below 2^53): XRANGE after it starts at `id`. */
function idBefore(id: string): string {
  const [ms, seq] = parseId(id)!
  return seq > 0 ? `${ms}-${seq - 1}` : `${ms - 1}-${Number.MAX_SAFE_INTEGER}`
}

/** The end of a group's default dead-letter channel's name (`<group>:dead`, SPEC §5). */
const DEFAULT_SUFFIX = ':dead'

/** What a replay or purge did not find (see unmatched): `--json` prints it beside the count. */
export interface Unmatched {
  /** How many distinct ids were given (0 when none). */
  readonly given: number
  /** Of the ids given, how many are not among the channel's dead letters (0 when none given). */
  readonly notFound: number
  /** The channel holds no dead letters (a mistyped channel or namespace). */
  readonly holdsNone: boolean
}

/**
 * What a replay or purge of `count` letters did not find: ids that are not among the channel's
 * dead letters (replayed or purged meanwhile, or mistyped), or a channel that holds none. With
 * ids given, found none, the caller tells whether the channel holds any (`holdsAny`): a script
 * replaying chosen ids must tell a mistyped channel from ids handled already (helper-230).
 */
export function unmatched(count: number, ids: readonly string[] | undefined, holdsAny = true): Unmatched {
  if (ids === undefined) return { given: 0, notFound: 0, holdsNone: count === 0 }
  // An id given twice (or spelt twice: `5` is `5-0`) is one letter.
  const given = new Set(ids.map((id) => canonicalId(id) ?? id)).size
  return { given, notFound: Math.max(0, given - count), holdsNone: count === 0 && !holdsAny }
}

/**
 * `unmatchedNote` for a purge: none when the channel held entries that are not dead letters (it
 * was the channel named; what the purge did with them is said beside it).
 */
export function purgeNote(purged: PurgeResult, missed: Unmatched): string {
  return purged.kept + purged.malformed > 0 ? '' : unmatchedNote(missed)
}

/** What was not found, said to the operator; empty when it found what it was asked for. */
export function unmatchedNote({ given, notFound, holdsNone }: Unmatched): string {
  const check = '(check the channel and the namespace)'
  if (holdsNone && given > 0)
    return `; the ${given} ids given are not among its dead letters: it holds none ${check}`
  if (holdsNone) return `; it holds no dead letters ${check}`
  return notFound > 0 ? `; ${notFound} of the ${given} ids given are not among its dead letters` : ''
}

/** Whether `channel` holds a dead letter now (one read of one letter). */
export async function holdsDeadLetters(fleet: Fleet, channel: string): Promise<boolean> {
  return (await readDeadLetters(fleet, channel, { limit: 1 })).letters.length > 0
}

/**
 * Whether `channel` is a dead-letter channel: one that holds dead letters or is named as a group's
 * default one. A purge of the whole of it deletes its entries that are not dead-letter records
 * there only.
 */
export function isDeadLetterChannel(channel: string, holdsLetters: boolean): boolean {
  return holdsLetters || channel.endsWith(DEFAULT_SUFFIX)
}

/** What a purge did: dead letters deleted, and the channel's other entries deleted or kept. */
export interface PurgeResult {
  /** Dead letters this call deleted (XDEL's count). */
  count: number
  /** Entries that are not dead-letter records this call deleted (purge of a whole channel only). */
  malformed: number
  /** Entries that are not dead-letter records left in the channel (see purgeChannel). */
  kept: number
}

/**
 * Deletes dead letters of `channel` (all, or those of `ids`); returns how many this call deleted
 * (XDEL's count: a letter another purge or replay removed first is not counted). A purge of the
 * whole channel deletes its other entries too (see purgeChannel).
 */
export async function purgeDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { ids?: string[] } = {},
): Promise<number> {
  return (await purgeChannel(fleet, channel, o)).count
}

/**
 * purgeDeadLetters, with what happened to the entries that are not dead-letter records (another
 * program's XADD, a damaged record). They count in the channel's length (status, `/metrics`), so
 * a purge of the whole channel deletes them as well: after it the channel is empty, as the
 * operator expects. Only in a dead-letter channel, though: one that holds dead letters, or is
 * named as a group's default one (`<group>:dead`, emptied of its letters by a replay); any other
 * (an application's channel, named by mistake) is not emptied by a dead-letter purge. A purge of
 * `ids` deletes dead letters only; replays never touch the other entries.
 */
export async function purgeChannel(
  fleet: Fleet,
  channel: string,
  o: { ids?: string[] } = {},
): Promise<PurgeResult> {
  const { scan, step, channelKey } = await select(fleet, 'admin.purgeDeadLetters', channel, o.ids)
  const remove = (ids: string[]) => step((b) => b.remove(channelKey, ids))
  const count = await inPages(scan.letters, (page) => remove(page.map((letter) => letter.id)))
  const whole = o.ids === undefined && isDeadLetterChannel(channel, scan.letters.length > 0)
  const malformed = whole ? await inPages(scan.others, remove) : 0
  // With ids the scan saw the named entries only: what else the channel holds is not known.
  const kept = o.ids === undefined && !whole ? scan.others.length : 0
  return { count, malformed, kept }
}
