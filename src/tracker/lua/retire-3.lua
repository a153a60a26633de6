-- Unlists a session that is neither live nor holding records; concurrent recoverers agree,
-- because the check and the removal are one step.
-- KEYS[1]  the index shard (hash sessionId → instanceId)
-- KEYS[2]  the session's liveness key
-- KEYS[3]  the session's jobs (hash jobId → record)
-- ARGV[1]  sessionId
-- returns  1 when it unlisted the session, 0 otherwise
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
