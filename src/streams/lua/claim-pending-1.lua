-- XAUTOCLAIM plus the delivery count of each claimed entry (XAUTOCLAIM does not return it), in
-- one round trip and one atomic step, so the count cannot change between the two. Entries
-- trimmed away while pending are dropped from the pending list by XAUTOCLAIM itself (Redis 7)
-- and never handed out.
-- KEYS[1]  the stream
-- ARGV[1]  group
-- ARGV[2]  consumer
-- ARGV[3]  min-idle in ms
-- ARGV[4]  cursor (an entry id; '0-0' from the start)
-- ARGV[5]  count
-- returns  { next cursor, claimed entries, their delivery counts }
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local counts = {}
for i, entry in ipairs(claimed[2]) do
  local info = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
  counts[i] = info[1] and info[1][4] or 1
end
return { claimed[1], claimed[2], counts }
