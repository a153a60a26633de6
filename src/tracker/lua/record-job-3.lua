-- Records a job in flight, listing its session in the same step, so that no record is ever
-- invisible to recovery (the index lists every session that has records). A session that
-- heartbeats (started) and whose liveness Redis lost (its node restarted empty) is live again
-- from this step: else the job, running, would be an orphan until the next beat.
-- KEYS[1]  the index shard (hash sessionId → instanceId)
-- KEYS[2]  the session's jobs (hash jobId → record)
-- KEYS[3]  the session's liveness key (string, PX ttl; its value is lastSeen)
-- ARGV[1]  sessionId
-- ARGV[2]  instanceId
-- ARGV[3]  jobId
-- ARGV[4]  the record (payload and start time, JSON)
-- ARGV[5]  lastSeen, ms since epoch, for a session that heartbeats; '' for one that does not
-- ARGV[6]  ttl in ms (with lastSeen)
-- returns  1
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6], 'NX')
end
return 1
