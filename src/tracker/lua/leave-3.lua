-- A session stops: ends its liveness, forgets the jobs it releases, and unlists the session when
-- no record is left (records left behind are orphans, and keep it listed for recovery).
-- KEYS[1]  the index shard (hash sessionId → instanceId)
-- KEYS[2]  the session's liveness key
-- KEYS[3]  the session's jobs (hash jobId → record)
-- ARGV[1]  sessionId
-- ARGV[2..] jobIds to forget (any number, none included)
-- returns  1
redis.call('DEL', KEYS[2])
-- HDEL in chunks: unpack has a limit on how many values it spreads.
for i = 2, #ARGV, 500 do
  redis.call('HDEL', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
