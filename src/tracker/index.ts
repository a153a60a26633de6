import type { FleetContext } from '../context.ts'

/** Options of `fleet.tracker()` (SPEC §7). Implemented in issue #6. */
export interface TrackerOptions {
  instanceId?: string
}
export interface Tracker {
  readonly instanceId: string
}

export function createTracker(_ctx: FleetContext, _options: TrackerOptions = {}): Tracker {
  throw new Error('fleet.tracker() is not implemented yet')
}
