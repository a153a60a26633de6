import { Script } from '../topology/script.ts'

/**
 * The cache's atomic steps, one script each (single key, so they run on any topology).
 */

/** INCRBY, then PEXPIRE only if the key has no expiry yet (PTTL -1): a TTL is never extended. */
export const INCREMENT_WITH_TTL = new Script(`
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`)

/** Deletes the fill lock only if it still holds our token: after a timeout it may be another's. */
export const UNLOCK = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
