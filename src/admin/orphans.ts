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

/** Which orphan to release: a job id of an instance, and its start when the id was reused. */
export interface OrphanRef {
  instanceId: string
  id: string
  /**
   * The job's `startedAt`: a worker restarted under the same instance id may leave the same job
   * id orphaned in two lives; without it the first found is released.
   */
  startedAt?: number
}

/**
 * Stops tracking one orphan without requeueing it; true if it was an orphan and this call
 * released it. Goes through the tracker's exactly-once recovery (a pass that takes only this
 * job), so it never races a recoverer: an orphan is released or requeued, never both.
 */
export async function releaseOrphan(fleet: Fleet, job: OrphanRef): Promise<boolean> {
  if (
    typeof job?.instanceId !== 'string' ||
    typeof job.id !== 'string' ||
    (job.startedAt !== undefined && !Number.isFinite(job.startedAt))
  ) {
    throw invalidArgument(
      'ERR_INVALID_ARGUMENT',
      'admin.releaseOrphan: job must have a string instanceId and id, and startedAt a number if given',
    )
  }
  let taken = false
  const released = await operatorTracker(fleet).recoverOrphans((orphan) => {
    if (taken || !isThe(orphan, job)) throw new NotThisOrphan()
    taken = true
  })
  return released > 0
}

function isThe(orphan: TrackedJob, job: OrphanRef): boolean {
  return (
    orphan.instanceId === job.instanceId &&
    orphan.id === job.id &&
    (job.startedAt === undefined || orphan.startedAt === job.startedAt)
  )
}
