/** `redfleet dlq list|replay|purge <deadLetterChannel>` and `redfleet orphans` (SPEC §9). */
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from '../admin/dead-letters.ts'
import { listOrphans } from '../admin/orphans.ts'
import { InvalidArgumentError } from '../errors.ts'
import { assertName } from '../validate.ts'
import { withFleet } from './common.ts'
import { type DlqAction, type FleetFlags, positiveIntegerFlag, UsageError } from './flags.ts'
import { formatJob } from './status-format.ts'

export interface DlqFlags extends FleetFlags {
  json?: boolean
  ids?: string
  limit?: string
}

const PREVIEW = 120

function idsOf(flags: DlqFlags): string[] | undefined {
  if (flags.ids === undefined) return undefined
  const ids = flags.ids.split(',').filter((id) => id !== '')
  if (ids.length === 0) throw new UsageError('--ids needs at least one entry id')
  return ids
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
  const ids = idsOf(flags)
  const limit = flags.limit === undefined ? undefined : positiveIntegerFlag('--limit', flags.limit)
  if (action !== 'list' && limit !== undefined) throw new UsageError(`--limit is for dlq list, not ${action}`)
  if (action === 'list' && ids !== undefined) throw new UsageError('--ids is for dlq replay and purge')
  await withFleet('dlq', flags, async (fleet) => {
    if (action === 'list') {
      const letters = await listDeadLetters(fleet, channel, { limit: limit ?? 100 })
      if (flags.json) {
        console.log(JSON.stringify(letters, null, 2))
        return
      }
      console.log(
        `dead letters in '${channel}': ${letters.length}${letters.length === (limit ?? 100) ? '+' : ''}`,
      )
      for (const letter of letters) {
        const payload = JSON.stringify(letter.envelope)
        const preview = payload.length > PREVIEW ? `${payload.slice(0, PREVIEW)}…` : payload
        lines(
          `${letter.id}  group ${letter.group}  from ${letter.origin.channel ?? 'the main stream'} ${letter.origin.id}`,
          `  ${letter.deliveries} deliveries, dead at ${new Date(letter.deadAt).toISOString()}: ${letter.error}`,
          `  ${preview}`,
        )
      }
      return
    }
    const count =
      action === 'replay'
        ? await replayDeadLetters(fleet, channel, { ids })
        : await purgeDeadLetters(fleet, channel, { ids })
    if (flags.json) console.log(JSON.stringify({ action, channel, count }))
    else console.log(`${action === 'replay' ? 'replayed' : 'purged'} ${count} dead letter(s) of '${channel}'`)
  })
}

export async function orphans(flags: FleetFlags & { json?: boolean }): Promise<void> {
  await withFleet('orphans', flags, async (fleet) => {
    const jobs = await listOrphans(fleet)
    if (flags.json) {
      console.log(JSON.stringify(jobs, null, 2))
      return
    }
    console.log(`orphans: ${jobs.length}`)
    const now = Date.now()
    for (const job of jobs)
      lines(formatJob(job, now), `  payload ${JSON.stringify(job.payload) ?? 'undefined'}`)
  })
}

function lines(...text: string[]): void {
  console.log(text.join('\n'))
}
