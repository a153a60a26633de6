import { CommandError, isAnnounced, isTransient, messageOf } from './errors.ts'

/**
 * How long a fleet's default warning sinks stay quiet about one kind of failure (kindOf) after
 * warning of it. Calls whose failure no caller hears (a broker publish, a tracked job's
 * records, a failsafe cache call) reach these sinks once per call: a frozen node or a cluster
 * that is down would otherwise print a warning per call (SPEC §1: never one per call).
 */
export const REPEAT_WARNING_AFTER = 30_000

/** How many kinds are kept before those whose quiet time is over are forgotten. */
const MAX_KINDS = 256

/** A fleet's RedfleetWarnings: each kind of failure at most once per REPEAT_WARNING_AFTER. */
export class FleetWarnings {
  /** When each kind of failure (kindOf) was last warned of. */
  readonly #last = new Map<string, number>()

  /**
   * Emits `text` as a RedfleetWarning for `error` of `op`, unless `error` was announced already
   * (its node known down) or the same kind of failure was warned of within REPEAT_WARNING_AFTER.
   */
  warn(op: string, error: unknown, text: string, now = performance.now()): void {
    if (isAnnounced(error)) return // warned once when its node went down, not once per call
    const kind = kindOf(op, error)
    const last = this.#last.get(kind)
    if (last !== undefined && now - last < REPEAT_WARNING_AFTER) return
    this.#emit(kind, text, now)
  }

  /**
   * Emits a node's change of state (it is down: said each time it changes) and counts it as a
   * warning of its kind: the calls its lost connection failed just before or after (a `Connection
   * is closed.`, a `Socket closed unexpectedly`) are that failure, not another (SPEC §1: one
   * warning per node per change of its state).
   */
  announce(op: string, error: unknown, text: string, now = performance.now()): void {
    this.#emit(kindOf(op, error), text, now)
  }

  /** Emits `text`, a warning of `kind` at `now`. */
  #emit(kind: string, text: string, now: number): void {
    // Some operations name a channel: the kinds seen are forgotten once their quiet time is over.
    if (this.#last.size >= MAX_KINDS) this.#forgetBefore(now - REPEAT_WARNING_AFTER)
    this.#last.set(kind, now)
    process.emitWarning(text, 'RedfleetWarning')
  }

  #forgetBefore(time: number): void {
    for (const [kind, at] of this.#last) if (at <= time) this.#last.delete(kind)
  }
}

/** The fleet whose warnings each primitive it made shares (see warningsOf). */
const primitiveWarnings = new WeakMap<object, FleetWarnings>()

/** Records that `primitive` was made by the fleet whose default warnings are `warnings`. */
export function shareWarnings<T extends object>(primitive: T, warnings: FleetWarnings): T {
  primitiveWarnings.set(primitive, warnings)
  return primitive
}

/**
 * What a wrapper of `primitive` that swallows its failures (failsafe) warns through: its
 * fleet's warnings, so that a frozen node met by it and by the fleet's own calls is one warning
 * (a Convert data store shares its store's); one set shared by every wrapper for an object no
 * fleet made.
 */
export function warningsOf(primitive: object): FleetWarnings {
  return primitiveWarnings.get(primitive) ?? UNOWNED_WARNINGS
}

const UNOWNED_WARNINGS = new FleetWarnings()

/**
 * What makes two failures one kind. A transient one (a timeout, a lost connection, CLUSTERDOWN,
 * LOADING, ...) is a node's or the cluster's state, met alike by every operation that touches it:
 * its class and reply word, whatever the operation, so that a frozen node or a cluster that is
 * down is one warning, not one per operation (SPEC §1: per node, never per call; the failures do
 * not carry their node). Any other failure (WRONGTYPE, a script error) is the operation's own.
 */
function kindOf(op: string, error: unknown): string {
  const code = String((error as { code?: unknown } | null)?.code ?? '')
  if (!isTransient(error)) return `${op}\u0000${code}`
  const reply = error instanceof CommandError ? messageOf(error.cause).split(' ', 1)[0] : ''
  return `transient\u0000${code}\u0000${reply}`
}
