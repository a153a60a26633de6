-- Claims one orphan for a recoverer, and recognises the recoverer's own earlier claim: a claim
-- whose reply was lost (a timeout) is re-sent with the same token and learns that it won, so
-- the orphan is handed out once, to it (SPEC §7, §8).
-- KEYS[1]  the session's liveness key: a live session has no orphans
-- KEYS[2]  the session's jobs (hash jobId → record)
-- KEYS[3]  the orphan's claim (string, PX ttl; its value is the claiming recoverer's token)
-- ARGV[1]  jobId
-- ARGV[2]  this claim's token (unique per claim, the same on every send of it)
-- ARGV[3]  ttl of the claim in ms (recoveryLockTtl)
-- returns  the job's record when this claim holds the orphan (now, or by an earlier send of
--          it), nil when the session is live, the record gone or another recoverer holds it
local holder = redis.call('GET', KEYS[3])
if holder == ARGV[2] then return redis.call('HGET', KEYS[2], ARGV[1]) end
if holder or redis.call('EXISTS', KEYS[1]) == 1 then return false end
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then return false end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
return record
