/** `redfleet status [--json] [--watch [seconds]]`: a snapshot of a fleet, once or until Ctrl-C. */
import { setTimeout as sleep } from 'node:timers/promises'
import { messageOf } from '../errors.ts'
import { inspectFleet } from '../inspect.ts'
import { explained } from './cluster-down.ts'
import { untilInterrupted, withFleet } from './common.ts'
import { type FleetFlags, UsageError } from './flags.ts'
import { formatStatus, jsonText, reasonLine } from './status-format.ts'

export interface StatusFlags extends FleetFlags {
  json?: boolean
  watch?: boolean | string
}

const DEFAULT_WATCH_SECONDS = 2

/** Seconds between snapshots of --watch, or undefined without it. */
function watchInterval(watch: boolean | string | undefined): number | undefined {
  if (watch === undefined || watch === false) return undefined
  if (watch === true) return DEFAULT_WATCH_SECONDS
  const seconds = Number(watch)
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError('--watch takes a number of seconds > 0')
  return seconds
}

/** The line a watch prints for a snapshot that failed: the whole reason, as one line. */
export function watchFailure(error: unknown, json: boolean): string {
  const reason = `redfleet status: ${messageOf(error)}`
  return json ? jsonText({ error: reason.trimEnd(), at: new Date().toISOString() }) : reasonLine(reason)
}

export async function status(flags: StatusFlags): Promise<void> {
  const every = watchInterval(flags.watch)
  const render = (snapshot: Awaited<ReturnType<typeof inspectFleet>>) =>
    // --json --watch prints one JSON document per line (NDJSON), so each line parses alone.
    flags.json ? jsonText(snapshot, every === undefined ? 2 : undefined) : formatStatus(snapshot)
  await withFleet('status', flags, async (fleet) => {
    if (every === undefined) {
      const snapshot = await inspectFleet(fleet)
      console.log(render(snapshot))
      // Printed, but not whole: exit 1, so that a script does not take it for the full state.
      const parts = [...new Set(snapshot.unavailable.map((u) => u.part))]
      if (parts.length > 0)
        throw new Error(`not all of the fleet could be read (${parts.join(', ')}: unavailable)`)
      return
    }
    const stop = new AbortController()
    void untilInterrupted().then(() => stop.abort())
    const clear = process.stdout.isTTY && !flags.json ? '\x1b[2J\x1b[H' : ''
    while (!stop.signal.aborted) {
      let text: string
      try {
        text = render(await inspectFleet(fleet))
      } catch (failure) {
        // A watch rides out Redis going away: it says so, and shows the fleet again once back.
        text = watchFailure(await explained(fleet, failure), flags.json === true)
      }
      process.stdout.write(`${clear}${text}\n`)
      await sleep(every * 1000, undefined, { signal: stop.signal }).catch(() => undefined)
    }
  })
}
