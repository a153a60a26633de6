import { Script } from '../topology/script.ts'

/*
 * The tracker's atomic steps, one Lua script each, named by what it does and how many keys it
 * takes. Every script's keys are one session's keys (they share the session's hash tag), except
 * UNINDEX_1, which touches only the fleet-wide index. No script ever spans two sessions.
 */

/** KEYS: reg. ARGV: token. Sets the token unless one exists; returns the token in place. */
export const REGISTER_1 = new Script(`
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`)

/** KEYS: reg, alive. ARGV: lastSeen, ttl. 0 (nothing written) when the session is not registered. */
export const HEARTBEAT_2 = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1`)

/** KEYS: reg, jobs. ARGV: jobId, record. 0 (nothing written) when the session is not registered. */
export const RECORD_2 = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`)

// Shared tail of LEAVE_3 and RETIRE_3: a session that is not live and has no records gives up
// its token (returned, '' if none) so its index entry can be removed; otherwise nil.
const RETIRE_TAIL = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return false end
local token = redis.call('GET', KEYS[3])
redis.call('DEL', KEYS[3])
return token or ''`

/** KEYS: alive, jobs, reg. ARGV: jobIds to release. Ends liveness, then retires if empty. */
export const LEAVE_3 = new Script(`
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 500 do
  redis.call('HDEL', KEYS[2], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
${RETIRE_TAIL}`)

/** KEYS: alive, jobs, reg. Retires a session that is not live and has no records. */
export const RETIRE_3 = new Script(RETIRE_TAIL)

/** KEYS: index. ARGV: sessionId, entry. Compare-and-delete of one index entry. */
export const UNINDEX_1 = new Script(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

/**
 * KEYS: alive, jobs, claim. ARGV: jobId, token, ttl. Claims an orphan: the session must not be
 * live, the record must exist and the claim must be free (SET NX PX). Returns the record or nil.
 */
export const CLAIM_3 = new Script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then return false end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return false end
return record`)

/**
 * KEYS: jobs, claim. ARGV: jobId, token. After a requeue: forgets the record and the claim,
 * unless another recoverer holds the claim now (0).
 */
export const COMPLETE_2 = new Script(`
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if owner then redis.call('DEL', KEYS[2]) end
return 1`)

/** KEYS: claim. ARGV: token. Compare-and-delete: only the claim's owner releases it. */
export const RELEASE_1 = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
