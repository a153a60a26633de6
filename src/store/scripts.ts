import { scriptFile } from '../topology/script.ts'

/**
 * The store's atomic steps, one `.lua` file each beside this module (KEYS/ARGV/returns in each
 * file's header). INCREMENT_WITH_TTL is the library's one counter step: the cache's counters
 * use it too.
 */
export const INCREMENT_WITH_TTL = scriptFile(new URL('./lua/increment-with-ttl-1.lua', import.meta.url))
export const CLAIM = scriptFile(new URL('./lua/claim-2.lua', import.meta.url))
export const COMPARE_AND_SET = scriptFile(new URL('./lua/compare-and-set-2.lua', import.meta.url))
