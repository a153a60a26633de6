/**
 * Dead letters of a fleet's consumer groups (SPEC §5, docs/streams.md): list them, put them back
 * where they came from, or delete them. A dead-letter channel is a channel stream whose entries
 * are the records a consume loop writes: { id, group, error, deliveries, envelope, deadAt }.
 */
import { type FleetContext, operationPolicy, runOperation } from '../context.ts'
import { type Fleet, fleetContext } from '../fleet.ts'
import { streamBackend } from '../streams/access.ts'
import type { StreamBackend } from '../streams/backend.ts'
import { type Delivery, encodeEnvelope, REPLAY_FIELD } from '../streams/entry.ts'
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

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The dead letter an entry holds, or undefined when it is not a dead-letter record. */
function toDeadLetter(channel: string, entry: Delivery): DeadLetter | undefined {
  const { id, group, error, deliveries, deadAt, envelope } = entry.envelope
  if (typeof id !== 'string' || typeof group !== 'string' || !isObject(envelope)) return undefined
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

/** Up to `limit` (500) dead letters of `channel` after `afterId`, oldest first. */
export async function listDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { limit?: number; afterId?: string } = {},
): Promise<DeadLetter[]> {
  const limit = o.limit ?? PAGE
  const streams = fleet.streams()
  const out: DeadLetter[] = []
  let after = o.afterId
  // Entries that are not dead-letter records are skipped: read on until `limit` are found.
  for (;;) {
    const want = limit - out.length
    const page = await streams.readRange(channel, after, want)
    for (const entry of page) {
      const letter = toDeadLetter(channel, entry)
      if (letter) out.push(letter)
    }
    if (page.length < want || out.length >= limit) return out
    after = page[page.length - 1]!.id
  }
}

/** Every dead letter of `channel`, or those of `ids` only. */
async function selected(fleet: Fleet, channel: string, ids: string[] | undefined): Promise<DeadLetter[]> {
  const wanted = ids === undefined ? undefined : new Set(ids)
  const out: DeadLetter[] = []
  let afterId: string | undefined
  for (;;) {
    const page = await listDeadLetters(fleet, channel, { limit: PAGE, afterId })
    out.push(...page.filter((letter) => wanted === undefined || wanted.has(letter.id)))
    if (page.length < PAGE) return out
    afterId = page[page.length - 1]!.id
  }
}

/**
 * Runs a replay or purge: validates the arguments, selects the dead letters (all, or those of
 * `ids`), and hands them to `act` a page at a time with a `remove` of that page's records.
 * Returns the sum of what `act` returns.
 */
async function perPage(
  fleet: Fleet,
  op: string,
  channel: string,
  ids: unknown,
  act: (page: DeadLetter[], step: Step, remove: () => Promise<number>) => Promise<number>,
): Promise<number> {
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
  for (let i = 0; i < letters.length; i += PAGE) {
    const page = letters.slice(i, i + PAGE)
    const remove = () =>
      step((b) =>
        b.remove(
          channelKey,
          page.map((letter) => letter.id),
        ),
      )
    total += await act(page, step, remove)
  }
  return total
}

/** One stream step with the fleet's retry policy and error translation. */
type Step = <T>(fn: (backend: StreamBackend) => Promise<T>) => Promise<T>

/**
 * Puts each dead letter (all, or those of `ids`) back on the stream it came from, addressed to
 * the group that gave up on it, so that a consumer of that group handles it again (other groups
 * and tails skip it); then deletes it from the dead-letter channel. At least once: a failure
 * between the two steps can replay a letter twice. Returns how many were replayed.
 */
export function replayDeadLetters(
  fleet: Fleet,
  channel: string,
  o: { ids?: string[] } = {},
): Promise<number> {
  const op = 'admin.replayDeadLetters'
  const main = fleetContext(fleet).keys.key('streams', 'events')
  return perPage(fleet, op, channel, o.ids, async (page, step, remove) => {
    const writes = page.map((letter) => ({
      key: main,
      fields: [...encodeEnvelope(letter.envelope, op, 'events'), REPLAY_FIELD, letter.group],
      // Trimming is left to the application's own publishes, which know its eventsMaxLen.
      maxLen: Number.MAX_SAFE_INTEGER,
      approximate: true,
    }))
    await step((backend) => backend.append(writes))
    await remove()
    return page.length
  })
}

/** Deletes dead letters of `channel` (all, or those of `ids`); returns how many were deleted. */
export function purgeDeadLetters(fleet: Fleet, channel: string, o: { ids?: string[] } = {}): Promise<number> {
  return perPage(fleet, 'admin.purgeDeadLetters', channel, o.ids, (_, __, remove) => remove())
}
