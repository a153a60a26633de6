import { scriptFile } from '../topology/script.ts'

/**
 * The cache's own atomic steps, one `.lua` file each in ./lua (KEYS/ARGV/returns in each file's
 * header). Counters use the store's INCREMENT_WITH_TTL (src/store/scripts.ts), the library's one
 * counter step.
 */
export const TAKE_FILL_LOCK = scriptFile(new URL('./lua/take-fill-lock-1.lua', import.meta.url))
export const RELEASE_FILL_LOCK = scriptFile(new URL('./lua/release-fill-lock-1.lua', import.meta.url))
export const SET_UNLESS_LIVE = scriptFile(new URL('./lua/set-unless-live-1.lua', import.meta.url))
export const GET_IDENTIFIED = scriptFile(new URL('./lua/get-identified-1.lua', import.meta.url))
export const TTL_EACH = scriptFile(new URL('./lua/ttl-each-n.lua', import.meta.url))
