-- Records a job in flight, listing its session in the same step, so that no record is ever
-- invisible to recovery (the index lists every session that has records).
-- KEYS[1]  the index shard (hash sessionId → instanceId)
-- KEYS[2]  the session's jobs (hash jobId → record)
-- ARGV[1]  sessionId
-- ARGV[2]  instanceId
-- ARGV[3]  jobId
-- ARGV[4]  the record (payload and start time, JSON)
-- returns  1
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 1
