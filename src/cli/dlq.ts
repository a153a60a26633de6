/** `redfleet dlq list|replay|purge <deadLetterChannel>` and `redfleet orphans` (SPEC §9). */
import {
  deadLetterChannels,
  holdsDeadLetters,
  isDeadLetterChannel,
  type PurgeResult,
  purgeChannel,
  purgeNote,
  readDeadLetters,
  replayDeadLetters,
  type Unmatched,
  unmatched,
  unmatchedNote,
} from '../admin/dead-letters.ts'
import { listOrphans } from '../admin/orphans.ts'
import { cutAt } from '../dashboard/format.ts'
import { InvalidArgumentError, messageOf } from '../errors.ts'
import type { Fleet } from '../index.ts'
import { canonicalId } from '../streams/ids.ts'
import { assertName } from '../validate.ts'
import { withFleet } from './common.ts'
import { type DlqAction, type FleetFlags, positiveIntegerFlag, UsageError } from './flags.ts'
import { formatJob, jsonText, shown } from './status-format.ts'

export interface DlqFlags extends FleetFlags {
  json?: boolean
  ids?: string
  limit?: string
}

const PREVIEW = 120
const DEFAULT_LIMIT = 100

function idsOf(flags: DlqFlags): string[] | undefined {
  const given = flags.ids
  if (given === undefined) return undefined
  if (given === '') throw new UsageError('--ids needs at least one entry id')
  // A typo would otherwise match no entry and "succeed" with a count of 0.
  return given.split(',').map((id) => {
    if (id === '')
      throw new UsageError(`--ids: an empty entry in '${shown(given)}' (two commas, or one at an end)`)
    // As Redis reads it (a bare `ms` is `ms-0`): the form the letters' ids are compared in.
    const canonical = canonicalId(id)
    if (canonical === undefined) {
      throw new UsageError(`--ids: '${shown(id)}' is not a stream entry id (like 1700000000000-0)`)
    }
    return canonical
  })
}

/** The channel as the library will take it (non-empty, at most 1024 bytes), or a usage error. */
function checkChannel(channel: string): void {
  try {
    assertName(channel, 'the dead-letter channel', 'dlq')
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new UsageError(error.message)
    throw error
  }
}

export async function dlq(action: DlqAction, channel: string, flags: DlqFlags): Promise<void> {
  checkChannel(channel)
  if (action === 'list' && flags.ids !== undefined) throw new UsageError('--ids is for dlq replay and purge')
  const ids = idsOf(flags)
  const limit = flags.limit === undefined ? undefined : positiveIntegerFlag('--limit', flags.limit)
  if (action !== 'list' && limit !== undefined) throw new UsageError(`--limit is for dlq list, not ${action}`)
  await withFleet('dlq', flags, async (fleet) => {
    if (action === 'list') {
      const shownLimit = limit ?? DEFAULT_LIMIT
      // One more than shown: whether there are more is known, not guessed from a full page.
      const { letters: read, skipped } = await readDeadLetters(fleet, channel, { limit: shownLimit + 1 })
      const letters = read.slice(0, shownLimit)
      const purgeable = isDeadLetterChannel(channel, read.length > 0)
      const skippedText = skippedNote(skipped, purgeable)
      const emptyText = read.length === 0 && skipped === 0 ? await elsewhereNote(fleet, channel) : ''
      if (flags.json) {
        // origin.channel is null when unknown (the main stream), never a field left out.
        const out = letters.map((l) => ({
          ...l,
          origin: { channel: l.origin.channel ?? null, id: l.origin.id },
        }))
        console.log(jsonText(out, 2))
        // The array stays the letters alone; what the text's first line adds is told beside it.
        if (read.length > shownLimit) moreOnStderr(channel, shownLimit)
        for (const note of [skippedText, emptyText]) if (note !== '') noteOnStderr(channel, note)
        return
      }
      const more = read.length > shownLimit ? '+' : ''
      const notes = [skippedText, emptyText].map((note) => (note === '' ? '' : ` (${note})`)).join('')
      console.log(`dead letters in '${shown(channel)}': ${letters.length}${more}${notes}`)
      for (const letter of letters) {
        const payload = JSON.stringify(letter.envelope)
        const preview = payload.length > PREVIEW ? `${cutAt(payload, PREVIEW)}…` : payload
        const from = letter.origin.channel === undefined ? 'the main stream' : shown(letter.origin.channel)
        lines(
          `${shown(letter.id)}  group ${shown(letter.group)}  from ${from} ${shown(letter.origin.id)}`,
          `  ${letter.deliveries} deliveries, dead at ${new Date(letter.deadAt).toISOString()}: ${shown(letter.error)}`,
          `  ${shown(preview)}`,
        )
      }
      return
    }
    // Ids given, none found: whether the channel holds any tells a mistyped channel from ids
    // handled already.
    const holdsAny = (found: number) =>
      ids === undefined || found > 0 ? true : holdsDeadLetters(fleet, channel)
    if (action === 'replay') {
      const count = await replayDeadLetters(fleet, channel, { ids })
      const held = await holdsAny(count)
      const missed = unmatched(count, ids, held)
      if (flags.json) {
        const { notFound, holdsNone } = missed
        console.log(jsonText({ action, channel, count, notFound, holdsNone }))
      } else console.log(`replayed ${count} dead letter(s) of '${shown(channel)}'${unmatchedNote(missed)}`)
      return
    }
    const purged = await purgeChannel(fleet, channel, { ids })
    const held = await holdsAny(purged.count)
    const missed = unmatched(purged.count, ids, held)
    if (flags.json) {
      const { notFound, holdsNone } = missed
      console.log(jsonText({ action, channel, ...purged, notFound, holdsNone }))
    } else console.log(purgedText(channel, purged, missed))
  })
}

/** How many other dead-letter channels an empty list names at most. */
const OTHERS_SHOWN = 10

/**
 * An empty channel, or a mistyped channel or namespace: the namespace's dead-letter channels
 * that hold letters, so that the one meant can be seen (a wrong --namespace finds none). The
 * walk (SCAN) runs only when the list is empty.
 */
async function elsewhereNote(fleet: Fleet, channel: string): Promise<string> {
  let channels: Awaited<ReturnType<typeof deadLetterChannels>>
  try {
    channels = await deadLetterChannels(fleet)
  } catch (error) {
    // A node that cannot be walked (down, frozen): the list stands, the hint says why it is missing.
    return `could not look for dead letters in other channels: ${shown(messageOf(error))}`
  }
  const others = channels.filter((c) => c.length > 0 && c.channel !== channel)
  const namespace = `namespace '${shown(fleet.namespace)}'`
  if (others.length === 0)
    return `no dead letters anywhere in ${namespace}: check --namespace if you expected some`
  // Their lengths count every entry, dead-letter record or not: said as entries.
  const named = others.slice(0, OTHERS_SHOWN).map((c) => `${shown(c.channel)} (${entries(c.length)})`)
  if (others.length > OTHERS_SHOWN) named.push(`${others.length - OTHERS_SHOWN} more`)
  return `dead letters of ${namespace} are in: ${named.join(', ')}`
}

/** A `--json` list cut at `--limit`: said on stderr, so that stdout stays the letters' array. */
function moreOnStderr(channel: string, limit: number): void {
  console.error(`redfleet: '${shown(channel)}' holds more than the ${limit} dead letters listed (--limit)`)
}

/** A note of the text's first line (entries skipped, where the letters are) for a `--json` list. */
function noteOnStderr(channel: string, note: string): void {
  console.error(`redfleet: '${shown(channel)}': ${note}`)
}

const entries = (n: number) => `${n} entr${n === 1 ? 'y' : 'ies'}`

/**
 * Why a channel is longer than its dead letters: entries skipped as not dead-letter records,
 * which `dlq purge` deletes in a dead-letter channel only (`purgeable`: isDeadLetterChannel).
 */
function skippedNote(skipped: number, purgeable: boolean): string {
  if (skipped === 0) return ''
  const purge = purgeable ? 'dlq purge deletes them' : 'not a dead-letter channel: dlq purge keeps them'
  return `${entries(skipped)} skipped: not dead-letter records; ${purge}`
}

/** What `dlq purge` did, the entries that are not dead-letter records included. */
function purgedText(channel: string, p: PurgeResult, missed: Unmatched): string {
  let text = `purged ${p.count} dead letter(s) of '${shown(channel)}'`
  if (p.malformed > 0) text += `, and ${entries(p.malformed)} that were not dead-letter records`
  // A channel that is not a dead-letter channel is not emptied: an application's, named by mistake.
  if (p.kept > 0) {
    text += `; kept ${entries(p.kept)} that are not dead-letter records: the channel holds no dead letter, it may not be a dead-letter channel`
  }
  return text + purgeNote(p, missed)
}

export async function orphans(flags: FleetFlags & { json?: boolean }): Promise<void> {
  await withFleet('orphans', flags, async (fleet) => {
    const jobs = await listOrphans(fleet)
    if (flags.json) {
      console.log(jsonText(jobs, 2))
      return
    }
    console.log(`orphans: ${jobs.length}`)
    const now = Date.now()
    for (const job of jobs) lines(formatJob(job, now), `  payload ${jsonText(job.payload)}`)
  })
}

function lines(...text: string[]): void {
  console.log(text.join('\n'))
}
