import { Script } from '../topology/script.ts'

/*
 * The tracker's atomic steps, one Lua script each, named by what it does and how many keys it
 * takes. Every script's keys are one session's keys plus its index shard, which share one hash
 * tag: one slot in a cluster, one node on the ring. No script ever spans two sessions.
 */

/** KEYS: index, alive. ARGV: sessionId, instanceId, lastSeen, ttl. Lists the session, marks it live. */
export const HEARTBEAT_2 = new Script(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1`)

/** KEYS: index, jobs. ARGV: sessionId, instanceId, jobId, record. Lists the session, records the job. */
export const RECORD_2 = new Script(`
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 1`)

/** KEYS: index, alive, jobs. ARGV: sessionId, jobIds to release... Ends liveness; unlists if empty. */
export const LEAVE_3 = new Script(`
redis.call('DEL', KEYS[2])
for i = 2, #ARGV, 500 do
  redis.call('HDEL', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`)

/** KEYS: index, alive, jobs. ARGV: sessionId. Unlists a session that is not live and has no records. */
export const RETIRE_3 = new Script(`
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])`)

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
