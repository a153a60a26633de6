export type { TrackedJob, TrackerOptions } from './options.ts'
export { createTracker, type Tracker } from './tracker.ts'
