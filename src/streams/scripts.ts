import { scriptFile } from '../topology/script.ts'

/**
 * The streams' atomic steps, one `.lua` file each beside this module (KEYS/ARGV/returns in each
 * file's header), named by what they do and how many keys they take.
 */
/**
 * XADD of each entry unless an earlier one with its publish id is among the latest entries, with
 * one look for them all: a publish's resend, a dead-letter replay's page.
 */
export const ADD_EACH_ONCE = scriptFile(new URL('./lua/add-each-once-1.lua', import.meta.url))
/** XAUTOCLAIM with each claimed entry's delivery count. */
export const CLAIM_PENDING = scriptFile(new URL('./lua/claim-pending-1.lua', import.meta.url))
/** Counts a stream's entries after an id (and up to it, first), a bounded number per call. */
export const COUNT_AFTER = scriptFile(new URL('./lua/count-after-1.lua', import.meta.url))
/** One group's (or every group's) pending count, lag and position, with the stream's first id and length. */
export const GROUP_LAGS = scriptFile(new URL('./lua/group-lags-1.lua', import.meta.url))
/** Hands entries a stopping consumer never started back to the group, uncounted. */
export const RELEASE_UNSTARTED = scriptFile(new URL('./lua/release-unstarted-1.lua', import.meta.url))
