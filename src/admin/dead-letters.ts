/**
 * Dead letters of a fleet's consumer groups (SPEC §5, docs/streams.md): list them, put them back
 * where they came from, or delete them. A dead-letter channel is a channel stream whose entries
 * are the records a consume loop writes: { id, group, error, deliveries, envelope, deadAt }.
 */
import { type FleetContext, operationPolicy, runOperation } from '../context.ts'
import { CommandError, isAmbiguous, messageOf } from '../errors.ts'
import { type Fleet, fleetContext } from '../fleet.ts'
import { streamBackend } from '../streams/access.ts'
import type { StreamBackend, StreamWrite } from '../streams/backend.ts'
import { type Delivery, ENVELOPE_FIELD, encodeEnvelope, REPLAY_FIELD } from '../streams/entry.ts'
import { scriptFile } from '../topology/script.ts'
import type { Client } from '../topology/types.ts'
import { assertName, invalidArgument } from '../validate.ts'
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

/** No trimming: that is left to the application's own publishes, which know its eventsMaxLen. */
const NO_CAP = Number.MAX_SAFE_INTEGER

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

/** Channels of the namespace whose first entry is a dead-letter record, with their lengths. */
export async function deadLetterChannels(fleet: Fleet): Promise<{ channel: string; length: number }[]> {
  const ctx = fleetContext(fleet)
  const prefix = channelPrefix(ctx)
  const { keys } = await scanKeys(ctx, prefix, 'stream')
  const streams = fleet.streams()
  const found = await Promise.all(
    keys.map(async (key) => {
      const channel = key.slice(prefix.length)
      const [first] = await streams.readRange(channel, undefined, 1)
      if (!first || !toDeadLetter(channel, first)) return undefined
      return { channel, length: await streamLength(ctx, key) }
    }),
  )
  return found.filter((c) => c !== undefined).sort((a, b) => a.channel.localeCompare(b.channel))
}

/** A dead letter with the record it was read from (what a replay that fails puts back). */
interface Read {
  letter: DeadLetter
  record: Record<string, unknown>
}

/** Up to `limit` dead letters of `channel` after `afterId`, oldest first, with their records. */
async function readLetters(
  fleet: Fleet,
  channel: string,
  limit: number,
  afterId: string | undefined,
): Promise<Read[]> {
  const streams = fleet.streams()
  const out: Read[] = []
  let after = afterId
  // Entries that are not dead-letter records are skipped: read on until `limit` are found.
  for (;;) {
    const want = limit - out.length
    const page = await streams.readRange(channel, after, want)
    for (const entry of page) {
      const letter = toDeadLetter(channel, entry)
      if (letter) out.push({ letter, record: entry.envelope })
    }
    if (page.length < want || out.length >= limit) return out
    after = page[page.length - 1]!.id
  }
}

/** Up to `limit` (500) dead letters of `channel` after `afterId`, oldest first. */
export async function listDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { limit?: number; afterId?: string } = {},
): Promise<DeadLetter[]> {
  return (await readLetters(fleet, channel, o.limit ?? PAGE, o.afterId)).map((read) => read.letter)
}

/** Every dead letter of `channel`, or those of `ids` only. */
async function selected(fleet: Fleet, channel: string, ids: string[] | undefined): Promise<Read[]> {
  const wanted = ids === undefined ? undefined : new Set(ids)
  const out: Read[] = []
  let afterId: string | undefined
  for (;;) {
    const page = await readLetters(fleet, channel, PAGE, afterId)
    out.push(...page.filter((read) => wanted === undefined || wanted.has(read.letter.id)))
    if (page.length < PAGE) return out
    afterId = page[page.length - 1]!.letter.id
  }
}

/** One stream step with the fleet's retry policy and error translation. */
type Step = <T>(fn: (backend: StreamBackend) => Promise<T>) => Promise<T>

/** What a replay or purge does with one page of the selected letters; returns how many it did. */
type Act = (page: Read[], step: Step, channelKey: string) => Promise<number>

/**
 * Runs a replay or purge: validates the arguments, selects the dead letters (all, or those of
 * `ids`), and hands them to `act` a page at a time. Returns the sum of what `act` returns.
 */
async function perPage(fleet: Fleet, op: string, channel: string, ids: unknown, act: Act): Promise<number> {
  assertName(channel, 'channel', op)
  if (ids !== undefined && (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string'))) {
    throw invalidArgument('ERR_INVALID_ARGUMENT', `${op}: ids must be an array of entry ids`)
  }
  const ctx = fleetContext(fleet)
  const letters = await selected(fleet, channel, ids)
  const backend = streamBackend(ctx)
  const channelKey = ctx.keys.key('streams', 'channel', channel)
  const step: Step = (fn) => runOperation(ctx, operationPolicy(ctx, {}), op, channel, () => fn(backend))
  let total = 0
  for (let i = 0; i < letters.length; i += PAGE)
    total += await act(letters.slice(i, i + PAGE), step, channelKey)
  return total
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
 * and their counts add up to the letters there were.
 *
 * Redis: where the channel and the main stream are on one node and slot (standalone, and the
 * ring or a cluster when they happen to be), one script per page (replay-dead-letters-2.lua)
 * removes and appends each letter atomically. Elsewhere, per page, XDEL of each letter, then
 * XADD of those this call removed; a failed XADD puts its letter back in the channel (with a
 * new id). Only the process dying between the two round trips loses letters: those of the page
 * under way.
 */
export function replayDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { ids?: string[] } = {},
): Promise<number> {
  const op = 'admin.replayDeadLetters'
  const ctx = fleetContext(fleet)
  const main = ctx.keys.key('streams', 'events')
  return perPage(fleet, op, channel, o.ids, async (page, step, channelKey) => {
    const client = await step(() => clientOfAll(ctx, [channelKey, main]))
    if (client) {
      const args: string[] = [ENVELOPE_FIELD, REPLAY_FIELD]
      for (const { letter } of page) {
        args.push(letter.id, encodeEnvelope(letter.envelope, op, 'events')[1]!, letter.group)
      }
      return Number(await step(() => REPLAY.run(client, [channelKey, main], args)))
    }
    // The two keys are in different slots (or nodes), and no script can touch both. Claiming
    // first (XDEL, then XADD what this call removed) makes a replay exactly once against other
    // replays; the other order (XADD, then XDEL) duplicates every letter two replays both read.
    // What claiming first costs: a crash between the steps loses the claimed letters. Failures
    // do not (the letter goes back, see putBack). Concurrent replays are an everyday operator
    // action, a crash inside one round trip a rare one: the other order's duplicate would be
    // the common failure, this order's loss the rare one.
    const removed = await Promise.allSettled(
      page.map(({ letter }) => step((b) => b.remove(channelKey, [letter.id]))),
    )
    const claimed = page.filter((_, i) => {
      const r = removed[i]!
      return r.status === 'fulfilled' && r.value === 1
    })
    const appended = await Promise.allSettled(
      claimed.map(({ letter }) =>
        step((b) =>
          b.append([
            {
              key: main,
              fields: [...encodeEnvelope(letter.envelope, op, 'events'), REPLAY_FIELD, letter.group],
              maxLen: NO_CAP,
              approximate: true,
            },
          ]),
        ),
      ),
    )
    // Letters this call may have removed but did not append: a failed append, or an XDEL whose
    // reply was lost (removed or not, no one can tell: put back, a duplicate rather than a loss).
    const back = [
      ...claimed.filter((_, i) => appended[i]!.status === 'rejected'),
      ...page.filter((_, i) => {
        const r = removed[i]!
        return r.status === 'rejected' && isAmbiguous(r.reason)
      }),
    ]
    const failure = [...removed, ...appended].find((r) => r.status === 'rejected')
    if (failure === undefined) return claimed.length
    if (back.length > 0) await putBack(step, channelKey, channel, back, op, failure.reason)
    throw failure.reason
  })
}

/**
 * Appends letters a replay removed but could not append back to their dead-letter channel (new
 * ids, the same records). When that fails too, the error names the letters lost.
 */
async function putBack(
  step: Step,
  channelKey: string,
  channel: string,
  letters: Read[],
  op: string,
  reason: unknown,
): Promise<void> {
  const writes: StreamWrite[] = letters.map(({ record }) => ({
    key: channelKey,
    fields: encodeEnvelope(record, op, channel),
    maxLen: NO_CAP,
    approximate: true,
  }))
  try {
    await step((b) => b.append(writes))
  } catch (error) {
    const ids = letters.map(({ letter }) => letter.id).join(', ')
    throw new CommandError(
      `${op}: dead letters ${ids} of '${channel}' were removed but neither replayed ` +
        `(${messageOf(reason)}) nor put back (${messageOf(error)})`,
      { cause: error },
    )
  }
}

/**
 * Deletes dead letters of `channel` (all, or those of `ids`); returns how many this call deleted
 * (XDEL's count: a letter another purge or replay removed first is not counted).
 */
export function purgeDeadLetters(fleet: Fleet, channel: string, o: { ids?: string[] } = {}): Promise<number> {
  return perPage(fleet, 'admin.purgeDeadLetters', channel, o.ids, (page, step, channelKey) =>
    step((b) =>
      b.remove(
        channelKey,
        page.map(({ letter }) => letter.id),
      ),
    ),
  )
}
