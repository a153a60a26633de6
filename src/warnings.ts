import { isAnnounced } from './errors.ts'

/**
 * How long a fleet's default warning sinks stay quiet about one kind of failure of one operation
 * after warning of it. Calls whose failure no caller hears (a broker publish, a tracked job's
 * records, a failsafe cache call) reach these sinks once per call: a frozen node or a cluster
 * that is down would otherwise print a warning per call (SPEC §1: never one per call).
 */
export const REPEAT_WARNING_AFTER = 30_000

/** How many kinds are kept before those whose quiet time is over are forgotten. */
const MAX_KINDS = 256

/** A fleet's RedfleetWarnings: each kind of failure of an operation at most once per REPEAT_WARNING_AFTER. */
export class FleetWarnings {
  /** When each (operation, error code) was last warned of. */
  readonly #last = new Map<string, number>()

  /**
   * Emits `text` as a RedfleetWarning for `error` of `op`, unless `error` was announced already
   * (its node known down) or the same kind of failure of `op` was warned of within
   * REPEAT_WARNING_AFTER.
   */
  warn(op: string, error: unknown, text: string, now = Date.now()): void {
    if (isAnnounced(error)) return // warned once when its node went down, not once per call
    const kind = `${op}\u0000${String((error as { code?: unknown } | null)?.code ?? '')}`
    const last = this.#last.get(kind)
    if (last !== undefined && now - last < REPEAT_WARNING_AFTER) return
    // Some operations name a channel: the kinds seen are forgotten once their quiet time is over.
    if (this.#last.size >= MAX_KINDS) this.#forgetBefore(now - REPEAT_WARNING_AFTER)
    this.#last.set(kind, now)
    process.emitWarning(text, 'RedfleetWarning')
  }

  #forgetBefore(time: number): void {
    for (const [kind, at] of this.#last) if (at <= time) this.#last.delete(kind)
  }
}
