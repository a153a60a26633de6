-- A session's heartbeat: lists it in its index shard and marks it live for the heartbeat TTL.
-- A Redis at maxmemory under noeviction refuses HSET and SET (they may use memory) but not
-- PEXPIRE: there the beat only extends the liveness key, which keeps its last lastSeen. A full
-- Redis must not let a live session expire: its jobs would be handed out as orphans while it
-- still runs them (helper-314). The session is listed already: its first beat listed it.
-- KEYS[1]  the index shard (hash sessionId → instanceId)
-- KEYS[2]  the session's liveness key (string, PX ttl; its value is lastSeen)
-- ARGV[1]  sessionId
-- ARGV[2]  instanceId
-- ARGV[3]  lastSeen, ms since epoch (the instance's clock)
-- ARGV[4]  ttl in ms
-- returns  1; Redis' OOM error when it is full and the liveness key is gone (nothing to extend)
local listed = redis.pcall('HSET', KEYS[1], ARGV[1], ARGV[2])
if type(listed) == 'table' and listed.err then
  if string.sub(listed.err, 1, 3) ~= 'OOM' or redis.call('PEXPIRE', KEYS[2], ARGV[4]) == 0 then
    return listed
  end
  return 1
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
