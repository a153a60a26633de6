-- A session's heartbeat: lists it in its index shard and marks it live for the heartbeat TTL.
-- KEYS[1]  the index shard (hash sessionId → instanceId)
-- KEYS[2]  the session's liveness key (string, PX ttl; its value is lastSeen)
-- ARGV[1]  sessionId
-- ARGV[2]  instanceId
-- ARGV[3]  lastSeen, ms since epoch (the instance's clock)
-- ARGV[4]  ttl in ms
-- returns  1
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
