import { scriptFile } from '../topology/script.ts'

/*
 * The tracker's atomic steps, one `.lua` file each beside this module (KEYS/ARGV/returns in each
 * file's header), named by what it does and how many keys it takes. Every script's keys are one
 * session's keys plus its index shard, which share one hash tag: one slot in a cluster, one node
 * on the ring. No script ever spans two sessions.
 */
export const HEARTBEAT_2 = scriptFile(new URL('./lua/heartbeat-2.lua', import.meta.url))
export const RECORD_3 = scriptFile(new URL('./lua/record-job-3.lua', import.meta.url))
export const LEAVE_3 = scriptFile(new URL('./lua/leave-3.lua', import.meta.url))
export const RETIRE_3 = scriptFile(new URL('./lua/retire-3.lua', import.meta.url))
/** Recognises its own earlier claim (same token): a claim whose reply was lost can be re-sent. */
export const CLAIM_3 = scriptFile(new URL('./lua/claim-orphan-3.lua', import.meta.url))
export const COMPLETE_2 = scriptFile(new URL('./lua/complete-orphan-2.lua', import.meta.url))
export const RELEASE_1 = scriptFile(new URL('./lua/release-claim-1.lua', import.meta.url))
