import { Script, scriptFile } from '../topology/script.ts'

/**
 * The cache's own atomic steps, one `.lua` file each in ./lua (KEYS/ARGV/returns in each file's
 * header). Counters use the store's INCREMENT_WITH_TTL.
 */
export const TAKE_FILL_LOCK = scriptFile(new URL('./lua/take-fill-lock-1.lua', import.meta.url))
export const RELEASE_FILL_LOCK = scriptFile(new URL('./lua/release-fill-lock-1.lua', import.meta.url))

/**
 * INCRBY, then PEXPIRE only if the key has no expiry yet (PTTL -1): a TTL is never extended.
 * To be replaced by the store's INCREMENT_WITH_TTL (src/store/scripts.ts) once that is in.
 */
export const INCREMENT_WITH_TTL = new Script(`
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`)
