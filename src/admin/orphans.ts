/**
 * Orphans (SPEC §7): jobs still tracked under tracker instances that are no longer live.
 * The operator tools read and release them through one tracker per fleet, made on first use:
 * a tracker registers a close hook with its fleet, so one per call would pile up hooks.
 */

import { type Fleet, fleetContext } from '../fleet.ts'
import type { TrackedJob, Tracker } from '../tracker/index.ts'
import { invalidArgument } from '../validate.ts'

/** Thrown by releaseOrphan's requeue for every orphan but the one it releases. */
class NotThisOrphan extends Error {}

const trackers = new WeakMap<Fleet, Tracker>()

/** The fleet's operator tracker: never started, so it is never live and tracks nothing. */
export function operatorTracker(fleet: Fleet): Tracker {
  let tracker = trackers.get(fleet)
  if (!tracker) {
    const ctx = fleetContext(fleet)
    tracker = fleet.tracker({
      instanceId: 'redfleet-operator',
      onError: (error) => {
        if (!(error instanceof NotThisOrphan)) ctx.onError(error, { op: 'admin.orphans' })
      },
    })
    trackers.set(fleet, tracker)
  }
  return tracker
}

/** Jobs of tracker instances that are no longer live, oldest first. */
export function listOrphans(fleet: Fleet): Promise<TrackedJob[]> {
  return operatorTracker(fleet).orphans()
}

/**
 * Stops tracking one orphan without requeueing it; true if it was an orphan and this call
 * released it. Goes through the tracker's exactly-once recovery (a pass that takes only this
 * job), so it never races a recoverer: an orphan is released or requeued, never both.
 */
export async function releaseOrphan(fleet: Fleet, job: { instanceId: string; id: string }): Promise<boolean> {
  if (typeof job?.instanceId !== 'string' || typeof job.id !== 'string') {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      'admin.releaseOrphan: job must have a string instanceId and id',
    )
  }
  const released = await operatorTracker(fleet).recoverOrphans((orphan) => {
    if (orphan.instanceId !== job.instanceId || orphan.id !== job.id) throw new NotThisOrphan()
  })
  return released > 0
}
